/**
 * The client side of the mTLS connect storm: N distinct devices connect (TLS handshake with a client certificate,
 * CONNECT, CONNACK) with bounded concurrency, and stay connected until released. Records the time to CONNACK of
 * each connection and which failed.
 */
import { connect, type MqttClient } from 'mqtt';

export interface StormDevice {
  readonly deviceId: string;
  readonly keyPem: string;
  readonly certificatePem: string;
  /** A TLS session (ticket) from an earlier connection to offer for resumption (bench/reconnect-storm.ts). */
  readonly tlsSession?: Buffer;
}

export interface StormOptions {
  readonly port: number;
  readonly rootCaPem: string;
  readonly devices: readonly StormDevice[];
  /** Connections in progress at once. @default 50 */
  readonly concurrency?: number;
  /** MQTT keep-alive the clients ask for (they then ping at this interval). @default 600 */
  readonly keepaliveSeconds?: number;
  /** Told every TLS session (ticket) the broker hands a device, so a later storm can resume it. */
  readonly onTlsSession?: (deviceId: string, session: Buffer) => void;
}

export interface StormResult {
  readonly connected: number;
  readonly failed: number;
  readonly durationMs: number;
  /** Time to CONNACK of each successful connection, ms. */
  readonly latenciesMs: readonly number[];
  /** The first few failure reasons. */
  readonly errors: readonly string[];
}

/** A connected client and the device it speaks for. */
export interface StormClient {
  readonly deviceId: string;
  readonly client: MqttClient;
}

export interface Storm {
  readonly result: StormResult;
  /** The connected clients, for scenarios that go on to publish (error-ingest.ts) or disconnect (graphql.ts). */
  readonly clients: readonly StormClient[];
  /** Disconnects every client. */
  release(): Promise<void>;
}

export async function connectStorm(opts: StormOptions): Promise<Storm> {
  const clients: StormClient[] = [];
  const latencies: number[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const begin = performance.now();
  const worker = async (): Promise<void> => {
    for (;;) {
      const device = opts.devices[next++];
      if (!device) return;
      const started = performance.now();
      try {
        clients.push({ deviceId: device.deviceId, client: await connectOne(opts, device) });
        latencies.push(performance.now() - started);
      } catch (e) {
        failed++;
        if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 50) }, worker));
  const durationMs = performance.now() - begin;
  return {
    result: { connected: clients.length, failed, durationMs, latenciesMs: latencies, errors },
    clients,
    release: async () => {
      await Promise.all(clients.map(({ client }) => client.endAsync(true).catch(() => undefined)));
    },
  };
}

function connectOne(opts: StormOptions, device: StormDevice): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = connect({
      host: 'localhost',
      port: opts.port,
      protocol: 'mqtts',
      protocolVersion: 4,
      clientId: device.deviceId,
      key: device.keyPem,
      cert: device.certificatePem,
      ca: opts.rootCaPem,
      keepalive: opts.keepaliveSeconds ?? 600,
      reconnectPeriod: 0,
      connectTimeout: 30_000,
      ...(device.tlsSession ? { session: device.tlsSession } : {}),
    });
    const onTlsSession = opts.onTlsSession;
    // mqtt.js builds the TLS socket synchronously in connect(); TLS 1.3 tickets arrive just after the handshake.
    if (onTlsSession) client.stream.on('session', (session: Buffer) => onTlsSession(device.deviceId, session));
    client.once('connect', () => resolve(client));
    client.once('error', (e) => {
      client.end(true);
      reject(e);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}
