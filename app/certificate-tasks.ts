/**
 * Certificate work the composition root runs in the background: revocations cut live connections, and tenant
 * CAs are rotated ahead of expiry. Each returns its stop function (called on shutdown, before the broker closes).
 */
import type { Broker } from '../broker/index.js';
import type { EventBus } from '../domain/events/event-bus.js';
import type { Services } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { runPeriodically } from './periodic.js';

/** How often tenant CAs are checked for rotation; far below any sensible lead time (days). */
export const CA_ROTATION_INTERVAL_MS = 60 * 60_000;

/**
 * A revoked device loses its live connection on every broker node this process runs (one today). The bus
 * delivers the committed revocation at once, so the connection closes well within a second.
 */
export function disconnectRevokedDevices(bus: EventBus, broker: Pick<Broker, 'disconnect'>, log: Logger): () => void {
  return bus.subscribe((event) => {
    if (event.type !== 'CertificateChanged' || event.kind !== 'REVOKED') return;
    broker.disconnect(event.deviceId).then(
      (wasConnected) => {
        if (wasConnected) log.warn({ deviceId: event.deviceId, tenantId: event.tenantId }, 'revoked device disconnected');
      },
      (e: unknown) => log.error({ deviceId: event.deviceId, err: e instanceof Error ? e.message : String(e) }, 'could not disconnect a revoked device'),
    );
  });
}

/** The CA rotation sweep, once now and then every interval (see periodic.ts). */
export function rotateTenantCasPeriodically(
  services: Pick<Services, 'certificates'>,
  log: Logger,
  intervalMs = CA_ROTATION_INTERVAL_MS,
): () => Promise<void> {
  return runPeriodically(
    'tenant CA rotation',
    async () => {
      const { created } = await services.certificates.rotateDueCas({ kind: 'system' });
      if (created > 0) log.info({ created }, 'tenant CA successors created');
    },
    log,
    intervalMs,
  );
}
