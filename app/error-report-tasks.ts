/**
 * Error report retention: every node runs the purge timer; the domain lets only the node holding the purge lease
 * do the work, so it runs once per cluster.
 */
import type { Services } from '../domain/services.js';
import type { Logger } from '../domain/shared/logger.js';
import { runPeriodically } from './periodic.js';

/** Retention is counted in days; an hourly purge keeps at most an hour's worth past it. */
export const ERROR_PURGE_INTERVAL_MS = 60 * 60_000;

export function purgeErrorReportsPeriodically(
  services: Pick<Services, 'errorReports'>,
  nodeId: string,
  log: Logger,
  intervalMs = ERROR_PURGE_INTERVAL_MS,
): () => Promise<void> {
  return runPeriodically(
    'error report purge',
    async () => {
      await services.errorReports.purgeExpired({ kind: 'system' }, nodeId);
    },
    log,
    intervalMs,
  );
}
