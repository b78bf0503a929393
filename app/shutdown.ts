import type { Logger } from '../domain/shared/logger.js';

/** Closes each part in the given order; one failing part is logged and never stops the rest from closing. */
export async function shutdownInOrder(
  parts: ReadonlyArray<{ name: string; close: () => Promise<void> }>,
  log: Logger,
): Promise<void> {
  for (const part of parts) {
    try {
      await part.close();
      log.debug({ part: part.name }, 'closed');
    } catch (e) {
      log.error({ part: part.name, err: e instanceof Error ? e.message : String(e) }, 'failed to close cleanly');
    }
  }
}

/**
 * SIGTERM/SIGINT drain: stop intake, finish in-flight work, close the database last. A second signal, or a drain
 * longer than the grace period, exits at once.
 */
export function closeOnSignals(close: () => Promise<void>, log: Logger, graceMs = 10_000): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      log.error({ graceMs }, 'shutdown took longer than the grace period: exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    close().then(
      () => {
        log.info({}, 'stopped');
        process.exit(0);
      },
      (e: unknown) => {
        log.error({ err: e instanceof Error ? e.message : String(e) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
