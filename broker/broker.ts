/**
 * The MQTT broker: aedes 1.x over node's TLS server, admitting devices by mutual TLS only. This file wires the
 * parts; each decision lives in its own module:
 *   identity.ts (certificate -> device id), connect-flow.ts (admission), acl.ts (who may publish/subscribe what),
 *   publish-flow.ts + ingest/ (device messages stored before the ack), subscribe-flow.ts, outbound.ts,
 *   frame-guard.ts (packet size and SUBSCRIBE limits), presence-tracker.ts (online/offline in the domain).
 */
import type { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { Aedes, type Client } from 'aedes';
import { createConnectFlow } from './connect-flow.js';
import { errorSummary } from './errors.js';
import { InboundFrameGuard, type FrameViolation } from './frame-guard.js';
import { resolveLimits } from './limits.js';
import type { Broker, BrokerOptions } from './options.js';
import { createOutbound } from './outbound.js';
import { PresenceTracker } from './presence-tracker.js';
import { createPublishFlow } from './publish-flow.js';
import { updateMessage } from './update-target.js';
import { createAuthorizeForward, createAuthorizeSubscribe } from './subscribe-flow.js';
import { listenTls } from './tls-listener.js';

export async function startBroker(opts: BrokerOptions): Promise<Broker> {
  const limits = resolveLimits(opts.limits);
  const log = opts.log;

  const aedes = await Aedes.createBroker({
    id: opts.nodeId,
    connectTimeout: limits.connectTimeoutMs,
    ...(opts.aedes?.mq !== undefined ? { mq: opts.aedes.mq } : {}),
    ...(opts.aedes?.persistence !== undefined ? { persistence: opts.aedes.persistence } : {}),
  });
  const outbound = createOutbound(aedes);
  const presence = new PresenceTracker(opts.presence, opts.nodeId, log, limits.touchIntervalMs, opts.now ?? Date.now);
  const connect = createConnectFlow({ presence: opts.presence, log, limits, connectedDevices: () => presence.connectedDevices });
  const { sessionOf } = connect;

  // aedes reads its hooks from the instance on every call; nothing connects before the TLS server listens below.
  aedes.preConnect = connect.preConnect;
  aedes.authenticate = connect.authenticate;
  aedes.authorizePublish = createPublishFlow({
    presence: opts.presence,
    attestation: opts.attestation ?? null,
    errorReports: opts.errorReports ?? null,
    deployments: opts.updates?.deployments ?? null,
    delivery: opts.updates ?? null,
    outbound,
    log,
    sessionOf,
    onStored: (deviceId) => presence.seen(deviceId),
  });
  aedes.authorizeSubscribe = createAuthorizeSubscribe({ log, sessionOf });
  aedes.authorizeForward = createAuthorizeForward({ log, sessionOf });

  aedes.on('client', (client: Client) => {
    const session = sessionOf(client);
    if (session === null) return; // cannot happen: aedes registers only authenticated clients
    presence.connected(client, session, () => client.close());
  });
  aedes.on('clientDisconnect', (client: Client) => presence.disconnected(client));
  aedes.on('ping', (_packet, client: Client) => presence.pinged(client));
  aedes.on('keepaliveTimeout', (client: Client) => sessionOf(client)?.log.info({}, 'keep-alive timed out: disconnecting'));
  aedes.on('clientError', (client: Client, error: Error) => {
    (sessionOf(client)?.log ?? log).debug({ err: errorSummary(error), remoteAddress: connect.remoteAddressOf(client) }, 'connection ended with an error');
  });
  aedes.on('connectionError', (client: Client, error: Error) => {
    log.debug({ err: errorSummary(error), remoteAddress: connect.remoteAddressOf(client) }, 'connection ended before CONNACK');
  });
  // aedes emits 'error' for failures of its own (persistence, will sweeps); unhandled it would crash the process.
  // (Its typings omit this event, hence the plain EventEmitter view.)
  const emitter: EventEmitter = aedes;
  emitter.on('error', (error: Error) => log.error({ err: errorSummary(error) }, 'broker error'));

  const refusePacket = (socket: TLSSocket, client: Client, violation: FrameViolation): void => {
    const session = sessionOf(client);
    (session?.log ?? log).warn(
      { ...violation, remoteAddress: socket.remoteAddress ?? null, deviceId: session?.deviceId ?? null },
      'packet refused: closing the connection',
    );
    socket.destroy();
  };

  const listener = await listenTls({
    tls: opts.tls,
    port: opts.port,
    host: opts.host,
    handshakeTimeoutMs: limits.connectTimeoutMs,
    log,
    onSecureConnection: (socket) => {
      const client = aedes.handle(socket);
      const guard = new InboundFrameGuard(limits);
      // aedes reads the socket with 'readable' + read(); with a 'readable' listener present, 'data' is emitted
      // for exactly the chunks read() returns and does not switch the stream to flowing mode (Node docs,
      // stream "Choose one API style"). So the guard sees every byte just before aedes' parser does.
      socket.on('data', (chunk: Buffer) => {
        const violation = guard.push(chunk);
        if (violation !== null && !socket.destroyed) refusePacket(socket, client, violation);
      });
    },
  }).catch(async (error: unknown) => {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw error;
  });
  log.info({ port: listener.port, nodeId: opts.nodeId }, 'MQTT broker listening (mutual TLS)');

  // Intake first, then every connection (aedes closes its clients), then the last presence records, then whatever
  // sockets are left (handshakes, connections that never sent CONNECT).
  const close = async (): Promise<void> => {
    listener.stopAccepting();
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    await presence.settled();
    await listener.close();
    log.info({}, 'MQTT broker closed');
  };
  let closing: Promise<void> | null = null;

  return {
    port: listener.port,
    close: () => (closing ??= close()),
    connectedDevices: () => presence.connectedDevices,
    tlsHandshakes: () => listener.handshakeCounts(),
    async disconnect(deviceId) {
      const client = presence.newestConnectionOf(deviceId);
      if (client === null) return false;
      await new Promise<void>((resolve) => client.close(() => resolve()));
      await presence.disconnectionRecorded(client);
      return true;
    },
    async pushTarget(deviceId) {
      const updates = opts.updates;
      if (!updates || presence.newestConnectionOf(deviceId) === null) return false;
      const target = await updates.deployments.targetFor(deviceId);
      if (target === null) return false;
      await outbound.sendToDevice(deviceId, 'update', updateMessage(target, updates));
      return true;
    },
    sendToDevice: (deviceId, message, payload) => outbound.sendToDevice(deviceId, message, payload),
  };
}
