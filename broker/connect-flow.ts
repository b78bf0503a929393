/**
 * Admission of a device, as a list of small steps like aedes' own connect.js. preConnect sees the CONNECT packet
 * and the TLS socket; authenticate (after aedes has taken the client id) asks the domain. Every refusal is logged
 * with its reason, the device id (when known) and the remote address.
 *
 * How a refusal reaches the device, given aedes 1.x:
 *   - preConnect failing closes the socket without a CONNACK (used for malformed CONNECTs, [MQTT-3.1.4-1]);
 *   - a CONNACK 2/3/5 can only come from authenticate (aedes reads `returnCode` there), so a refusal found in
 *     preConnect that deserves one is remembered and given by authenticate;
 *   - aedes answers CONNACK 1 itself for protocol levels outside 3..4, so MQTT 3.1 (level 3) is routed there too.
 */
import { TLSSocket } from 'node:tls';
import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import type { PresenceService } from '../domain/services.js';
import { BoundLogger, type Logger } from '../domain/shared/logger.js';
import { CONNACK, ConnectRefusedError, errorSummary, type ConnackRefusalCode } from './errors.js';
import { peerIdentity, type IdentityResult } from './identity.js';
import type { BrokerLimits } from './limits.js';
import { clip, type DeviceSession } from './session.js';

/** MQTT 3.1.1 ([MQTT-3.1.2-2]); the contract speaks nothing else. */
const MQTT_3_1_1 = 4;

/** How the device learns it was refused. */
export type RefusalAnswer = { readonly connack: ConnackRefusalCode } | 'close';

export interface ConnectRefusal {
  readonly reason: string;
  readonly answer: RefusalAnswer;
}

export interface ConnectPacketFacts {
  readonly protocolVersion: number;
  readonly clientId: string;
  readonly keepalive: number;
}

type PacketCheck = (packet: ConnectPacketFacts, limits: BrokerLimits) => ConnectRefusal | null;

const requireMqtt311: PacketCheck = (p) =>
  p.protocolVersion === MQTT_3_1_1
    ? null
    : { reason: `protocol level ${p.protocolVersion} (only 4, MQTT 3.1.1)`, answer: { connack: CONNACK.UNACCEPTABLE_PROTOCOL_VERSION } };

const requireClientId: PacketCheck = (p) =>
  p.clientId.length > 0 ? null : { reason: 'empty client id', answer: { connack: CONNACK.IDENTIFIER_REJECTED } };

const requireKeepaliveInRange: PacketCheck = (p, limits) =>
  p.keepalive >= limits.minKeepaliveSeconds && p.keepalive <= limits.maxKeepaliveSeconds
    ? null
    : { reason: `keep-alive ${p.keepalive}s outside ${limits.minKeepaliveSeconds}..${limits.maxKeepaliveSeconds}`, answer: 'close' };

const PACKET_CHECKS: readonly PacketCheck[] = [requireMqtt311, requireClientId, requireKeepaliveInRange];

/** The CONNECT packet's own faults, first one wins. Pure. */
export function checkConnectPacket(packet: ConnectPacketFacts, limits: BrokerLimits): ConnectRefusal | null {
  for (const check of PACKET_CHECKS) {
    const refusal = check(packet, limits);
    if (refusal) return refusal;
  }
  return null;
}

interface ConnectAttempt {
  readonly remoteAddress: string | null;
  readonly identity: IdentityResult;
  /** Found in preConnect, answered with a CONNACK by authenticate. */
  readonly refusal: ConnectRefusal | null;
}

export interface ConnectFlowDeps {
  readonly presence: PresenceService;
  readonly log: Logger;
  readonly limits: BrokerLimits;
  readonly connectedDevices: () => number;
}

type PreConnect = (client: Client, packet: ConnectPacket, callback: (error: Error | null, success: boolean) => void) => void;
type Authenticate = (
  client: Client,
  username: Readonly<string | undefined>,
  password: Readonly<Buffer | undefined>,
  done: (error: AuthenticateError | null, success: boolean | null) => void,
) => void;

export interface ConnectFlow {
  readonly preConnect: PreConnect;
  readonly authenticate: Authenticate;
  /** The admitted device behind an aedes client, from authentication on. */
  sessionOf(client: Client | null): DeviceSession | null;
  remoteAddressOf(client: Client): string | null;
}

export function createConnectFlow(deps: ConnectFlowDeps): ConnectFlow {
  const attempts = new WeakMap<Client, ConnectAttempt>();
  const sessions = new WeakMap<Client, DeviceSession>();
  const { log, limits, presence } = deps;

  const refuse = (attempt: ConnectAttempt | undefined, clientId: string, refusal: ConnectRefusal): void => {
    const identity = attempt?.identity;
    log.warn(
      {
        deviceId: identity ? (identity.ok ? identity.identity.deviceId : identity.claimedDeviceId) : null,
        clientId: clip(clientId, 130),
        remoteAddress: attempt?.remoteAddress ?? null,
        reason: refusal.reason,
        answer: refusal.answer === 'close' ? 'connection closed' : `CONNACK ${refusal.answer.connack}`,
      },
      'device connection refused',
    );
  };

  const preConnect: PreConnect = (client, packet, callback) => {
    const socket = client.conn;
    const tlsSocket = socket instanceof TLSSocket ? socket : null;
    const identity: IdentityResult = tlsSocket ? peerIdentity(tlsSocket) : { ok: false, reason: 'NO_CERTIFICATE', claimedDeviceId: null };
    const remoteAddress = tlsSocket?.remoteAddress ?? null;
    const clientId = typeof packet.clientId === 'string' ? packet.clientId : '';
    // Sessions are always clean: what a device is owed is re-derived from the database on every connect, and a
    // persistent session would queue messages for an identity that may be revoked before it returns.
    packet.clean = true;
    // Presence is the service's job; a Last Will would let a device publish in its own absence.
    delete packet.will;

    let refusal = checkConnectPacket(
      { protocolVersion: packet.protocolVersion ?? 0, clientId, keepalive: packet.keepalive ?? 0 },
      limits,
    );
    if (refusal === null && limits.maxConnections !== null && deps.connectedDevices() >= limits.maxConnections) {
      refusal = { reason: `node full (${limits.maxConnections} devices)`, answer: { connack: CONNACK.SERVER_UNAVAILABLE } };
    }
    const attempt: ConnectAttempt = { remoteAddress, identity, refusal };
    attempts.set(client, attempt);

    if (refusal?.answer === 'close') {
      refuse(attempt, clientId, refusal);
      return callback(new Error(refusal.reason), false);
    }
    if (refusal?.answer.connack === CONNACK.UNACCEPTABLE_PROTOCOL_VERSION) {
      refuse(attempt, clientId, refusal);
      // aedes answers CONNACK 1 for levels it does not speak, before authenticate; it does speak 3 (MQTT 3.1),
      // which we do not. aedes documents that preConnect may modify the packet.
      Reflect.set(packet, 'protocolVersion', 0);
    }
    // Any other refusal is answered (and logged) by authenticate, the one hook whose error carries a CONNACK code.
    callback(null, true);
  };

  const authenticate: Authenticate = (client, _username, _password, done) => {
    const attempt = attempts.get(client);
    attempts.delete(client);
    const fail = (refusal: ConnectRefusal): void => {
      refuse(attempt, client.id, refusal);
      const code = refusal.answer === 'close' ? CONNACK.NOT_AUTHORIZED : refusal.answer.connack;
      done(new ConnectRefusedError(code, refusal.reason) as AuthenticateError, false);
    };
    admit(client, attempt).then(
      (outcome) => {
        if ('refusal' in outcome) return fail(outcome.refusal);
        sessions.set(client, outcome.session);
        done(null, true);
      },
      (error: unknown) => {
        log.error({ err: errorSummary(error), remoteAddress: attempt?.remoteAddress ?? null }, 'admission failed');
        fail({ reason: 'admission check failed', answer: { connack: CONNACK.SERVER_UNAVAILABLE } });
      },
    );
  };

  /** Steps after aedes took the client id: identity from the certificate, client id = device id, domain says yes. */
  async function admit(client: Client, attempt: ConnectAttempt | undefined): Promise<{ session: DeviceSession } | { refusal: ConnectRefusal }> {
    if (!attempt) return { refusal: { reason: 'no CONNECT seen', answer: { connack: CONNACK.NOT_AUTHORIZED } } };
    if (attempt.refusal) return { refusal: attempt.refusal };
    const { identity } = attempt;
    if (!identity.ok) {
      return { refusal: { reason: `certificate: ${identity.reason}`, answer: { connack: CONNACK.NOT_AUTHORIZED } } };
    }
    const { deviceId, sha256Thumbprint, kind } = identity.identity;
    if (client.id !== deviceId) {
      return { refusal: { reason: 'client id is not the certificate device id', answer: { connack: CONNACK.IDENTIFIER_REJECTED } } };
    }
    const admission = await presence.admit(deviceId, sha256Thumbprint).catch((error: unknown) => {
      log.error({ err: errorSummary(error), deviceId, remoteAddress: attempt.remoteAddress }, 'admission check failed');
      return null;
    });
    if (admission === null) return { refusal: { reason: 'admission check failed', answer: { connack: CONNACK.SERVER_UNAVAILABLE } } };
    if (!admission.admitted) return { refusal: { reason: admission.reason, answer: { connack: CONNACK.NOT_AUTHORIZED } } };
    const remoteAddress = attempt.remoteAddress;
    return {
      session: {
        deviceId,
        tenantId: admission.tenantId,
        remoteAddress,
        log: new BoundLogger(log, { deviceId, remoteAddress: remoteAddress ?? 'unknown', certificate: kind }),
      },
    };
  }

  return {
    preConnect,
    authenticate,
    sessionOf: (client) => (client ? (sessions.get(client) ?? null) : null),
    remoteAddressOf: (client) => attempts.get(client)?.remoteAddress ?? sessions.get(client)?.remoteAddress ?? null,
  };
}
