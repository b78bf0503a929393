/**
 * A real mqtt.js client for broker tests: connects over TLS with a device identity and reports what the device
 * observes (connected, CONNACK refusal code, or a closed connection), never retrying on its own.
 */
import { connect, type IClientOptions, type MqttClient } from 'mqtt';

export interface DeviceCredentials {
  readonly keyPem: string;
  readonly certificatePem: string;
}

export interface DeviceConnectOptions {
  readonly port: number;
  /** Trust anchor for the broker's server certificate. */
  readonly caPem: string;
  /** Omitted: connect without a client certificate. */
  readonly identity?: DeviceCredentials;
  readonly clientId: string;
  /** @default 4 */
  readonly protocolVersion?: 3 | 4 | 5;
  /** @default 60 */
  readonly keepalive?: number;
  readonly clean?: boolean;
  readonly will?: IClientOptions['will'];
}

export type ConnectOutcome =
  | { readonly kind: 'connected'; readonly client: MqttClient }
  /** CONNACK with a non-zero return code. */
  | { readonly kind: 'refused'; readonly returnCode: number }
  /** The connection ended without a CONNACK (TLS refusal, or the broker closed it). */
  | { readonly kind: 'closed'; readonly error: string | null };

export function connectDevice(opts: DeviceConnectOptions): Promise<ConnectOutcome> {
  const client = connect({
    host: 'localhost',
    port: opts.port,
    protocol: 'mqtts',
    ca: opts.caPem,
    ...(opts.identity ? { key: opts.identity.keyPem, cert: opts.identity.certificatePem } : {}),
    clientId: opts.clientId,
    protocolVersion: opts.protocolVersion ?? 4,
    keepalive: opts.keepalive ?? 60,
    clean: opts.clean ?? true,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    ...(opts.will ? { will: opts.will } : {}),
  });
  return new Promise<ConnectOutcome>((resolve) => {
    let lastError: (Error & { code?: number | string }) | null = null;
    const settle = (outcome: ConnectOutcome): void => {
      client.removeAllListeners('connect');
      resolve(outcome);
    };
    client.once('connect', () => settle({ kind: 'connected', client }));
    client.on('error', (error: Error & { code?: number | string }) => {
      lastError = error;
      if (typeof error.code === 'number') {
        client.end(true);
        settle({ kind: 'refused', returnCode: error.code });
      }
    });
    client.once('close', () => {
      client.end(true);
      settle({ kind: 'closed', error: lastError ? String(lastError.code ?? lastError.message) : null });
    });
  });
}

/** Connects and insists on success. */
export async function connectedDevice(opts: DeviceConnectOptions): Promise<MqttClient> {
  const outcome = await connectDevice(opts);
  if (outcome.kind !== 'connected') throw new Error(`expected a connection, got ${JSON.stringify(outcome)}`);
  return outcome.client;
}

/** SUBSCRIBE and return the granted QoS per filter (128 = refused). */
export function subscribeGranted(client: MqttClient, filters: readonly string[], qos: 0 | 1 = 1): Promise<number[]> {
  return new Promise((resolve, reject) => {
    client.subscribe([...filters], { qos }, (error, _granted, packet) => {
      if (packet) resolve(packet.granted.map((g) => (typeof g === 'number' ? g : -1)));
      else reject(error ?? new Error('no SUBACK'));
    });
  });
}

/** Resolves when the client's connection is gone (or already was). */
export function whenClosed(client: MqttClient): Promise<void> {
  if (!client.connected) return Promise.resolve();
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** The next message on a topic. */
export function nextMessage(client: MqttClient, topic: string, timeoutMs = 5_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== topic) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve(payload);
    };
    client.on('message', onMessage);
  });
}

/** Polls until `check` holds. */
export async function eventually(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function endAll(clients: readonly MqttClient[]): Promise<void> {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
}
