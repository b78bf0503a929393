/**
 * The subscriber side of the fan-out measurement: S WebSocket connections with k subscriptions each, to
 * Spheregate's `deviceStatusChanged` over graphql-ws, or to the bare `ws` floor of bench/fronts.ts. Every delivery
 * is recorded with its delay from the event's own time (`at`, stamped where the event happened: by the presence
 * service when the device's connection is recorded, by the floor when it broadcasts) to its receipt here.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { StatusEventPayload } from './fronts.js';

export const STATUS_SUBSCRIPTION = 'subscription { deviceStatusChanged { deviceId online connectionSeq at } }';

/** Counts deliveries per event (connectionSeq and online) and keeps the delay of each. */
export class DeliveryLog {
  readonly #counts = new Map<string, number>();
  readonly latenciesMs: number[] = [];

  record(event: StatusEventPayload): void {
    const key = DeliveryLog.key(event);
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
    this.latenciesMs.push(Date.now() - Date.parse(event.at));
  }

  static key(event: Pick<StatusEventPayload, 'connectionSeq' | 'online'>): string {
    return `${event.connectionSeq}/${event.online}`;
  }

  /** The events seen so far. */
  keys(): Set<string> {
    return new Set(this.#counts.keys());
  }

  /**
   * After a trigger: waits for a new event (one not in `known`) with this `online` value to reach `expected`
   * deliveries, or for the deadline. Returns how many of its deliveries arrived (0: the event never came).
   */
  async awaitNew(known: ReadonlySet<string>, online: boolean, expected: number, timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    const suffix = `/${online}`;
    for (;;) {
      let best = 0;
      for (const [key, count] of this.#counts) if (!known.has(key) && key.endsWith(suffix)) best = Math.max(best, count);
      if (best >= expected || Date.now() > deadline) return best;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}

export interface Subscribers {
  readonly total: number;
  close(): Promise<void>;
}

/** graphql-ws clients with the tenant's key; resolves once every socket is acknowledged (connection_ack). */
export async function openGraphqlSubscribers(wsUrl: string, key: string, sockets: number, perSocket: number, log: DeliveryLog): Promise<Subscribers> {
  const clients: Client[] = [];
  const stops: Array<() => void> = [];
  let failure: unknown = null;
  await Promise.all(
    Array.from({ length: sockets }, async () => {
      const client = createClient({
        url: wsUrl,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${key}` },
        retryAttempts: 0,
        lazy: false,
        // Never let the client's keep-alive pings stand between an event and its delivery.
        keepAlive: 0,
      });
      clients.push(client);
      await new Promise<void>((resolve, reject) => {
        client.on('connected', () => resolve());
        client.on('closed', () => reject(new Error('subscriber socket closed before connection_ack')));
      });
      for (let i = 0; i < perSocket; i++) {
        stops.push(
          client.subscribe<{ deviceStatusChanged: StatusEventPayload }>(
            { query: STATUS_SUBSCRIPTION },
            {
              next: (result) => {
                if (result.data) log.record(result.data.deviceStatusChanged);
                else failure ??= result.errors;
              },
              error: (e) => void (failure ??= e),
              complete: () => undefined,
            },
          ),
        );
      }
    }),
  );
  return {
    total: sockets * perSocket,
    close: async () => {
      for (const stop of stops) stop();
      await Promise.all(clients.map((c) => c.dispose()));
      if (failure !== null) throw new Error(`a subscription failed: ${JSON.stringify(failure)}`);
    },
  };
}

/** Plain `ws` clients of the floor server; each socket asks for `perSocket` messages per broadcast. */
export async function openFloorSubscribers(wsUrl: string, sockets: number, perSocket: number, log: DeliveryLog): Promise<Subscribers> {
  const open: WebSocket[] = [];
  await Promise.all(
    Array.from({ length: sockets }, async () => {
      const socket = new WebSocket(`${wsUrl}?subscriptions=${perSocket}`);
      open.push(socket);
      socket.on('message', (data: Buffer) => {
        const message = JSON.parse(data.toString('utf8')) as { payload: { data: { deviceStatusChanged: StatusEventPayload } } };
        log.record(message.payload.data.deviceStatusChanged);
      });
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('error', reject);
      });
    }),
  );
  return {
    total: sockets * perSocket,
    close: async () => {
      await Promise.all(
        open.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.readyState === WebSocket.CLOSED) return resolve();
              s.once('close', () => resolve());
              s.close();
            }),
        ),
      );
    },
  };
}
