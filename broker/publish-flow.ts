/**
 * aedes authorizePublish for device messages: ACL -> ingest -> reply. This is the only hook that runs before a
 * QoS 1 PUBACK (aedes acks after it and before `published`), so a message that must not be lost is stored here.
 *
 * aedes closes the client when this hook returns an error ([MQTT-3.3.5-2]: no error is sent). That is what a
 * publish outside the device's subtree gets. A message the device merely got wrong is answered on
 * `down/error` and the hook returns no error, so the packet is acknowledged and the connection keeps serving; the
 * message goes nowhere afterwards: authorizeForward delivers nothing a device published to any device
 * (subscribe-flow.ts), and retain is cleared here so it is not kept for later subscribers either. A storage failure returns an error: no PUBACK, the connection closes
 * and the device sends the message again after reconnecting.
 */
import type { Client, PublishPacket } from 'aedes';
import type { AttestationService, DeploymentsService, ErrorReportsService, PresenceService } from '../domain/services.js';
import type { UpdateDelivery } from './update-target.js';
import type { Logger } from '../domain/shared/logger.js';
import type { DeviceErrorCode } from '../contract/mqtt/messages.js';
import { authorizePublishTopic } from './acl.js';
import { errorSummary } from './errors.js';
import { ingest } from './ingest/index.js';
import type { Outbound } from './outbound.js';
import { SerialQueue } from './serial-queue.js';
import { clip, type DeviceSession } from './session.js';

export type AuthorizePublish = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => void;

export interface PublishFlowDeps {
  readonly presence: PresenceService;
  readonly attestation: AttestationService | null;
  readonly errorReports: ErrorReportsService | null;
  readonly deployments: DeploymentsService | null;
  readonly delivery: UpdateDelivery | null;
  readonly outbound: Outbound;
  readonly log: Logger;
  readonly sessionOf: (client: Client | null) => DeviceSession | null;
  /** Called after a message was stored (it refreshed the device's lastSeen). */
  readonly onStored: (deviceId: string) => void;
}

export function createPublishFlow(deps: PublishFlowDeps): AuthorizePublish {
  const { presence, outbound, log } = deps;
  // aedes runs the packets of one socket read concurrently; one device's messages are stored in arrival order.
  // Its error reports in a row go to the writer together (it keeps their order and stores them in one flush).
  const perDevice = new SerialQueue();

  const reply = (session: DeviceSession, code: DeviceErrorCode, message: string, topic: string): void => {
    session.log.info({ code, topic: clip(topic), reason: message }, 'device message refused');
    outbound
      .sendToDevice(session.deviceId, 'error', { v: 1, code, message: clip(message, 499), topic: clip(topic, 299) })
      .catch((error: unknown) => session.log.warn({ err: errorSummary(error) }, 'could not send the error reply'));
  };

  return (client, packet, callback) => {
    const session = deps.sessionOf(client);
    if (session === null) {
      // aedes also calls this for Last Will messages (client null when published later); devices have none.
      log.warn({ topic: clip(packet.topic) }, 'publish without an admitted device refused');
      return callback(new Error('not an admitted device'));
    }
    // A device message is never stored as retained: it would be handed to future subscribers.
    packet.retain = false;

    const verdict = authorizePublishTopic(session.deviceId, packet.topic);
    if (verdict.kind === 'violation') {
      session.log.warn({ topic: clip(packet.topic), reason: verdict.reason }, 'publish outside the device subtree: disconnecting');
      return callback(new Error(`publish refused: ${verdict.reason}`));
    }
    if (verdict.kind === 'reject') {
      reply(session, verdict.code, verdict.reason, packet.topic);
      return callback(null);
    }

    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload, 'utf8') : packet.payload;
    perDevice
      .run(session.deviceId, () =>
        ingest(
          verdict.message,
          {
            presence,
            attestation: deps.attestation,
            errorReports: deps.errorReports,
            deployments: deps.deployments,
            delivery: deps.delivery,
            deviceId: session.deviceId,
            reply: (message, body) => outbound.sendToDevice(session.deviceId, message, body),
          },
          payload,
        ),
        verdict.message === 'error-reports' ? 'error-reports' : undefined,
      )
      .then(
        (outcome) => {
          if (outcome.kind !== 'stored') reply(session, outcome.code, outcome.message, packet.topic);
          if (outcome.kind !== 'rejected') deps.onStored(session.deviceId);
          callback(null);
        },
        (error: unknown) => {
          session.log.error({ err: errorSummary(error), topic: clip(packet.topic) }, 'could not store the device message; not acknowledged');
          callback(new Error('storage failed'));
        },
      );
  };
}
