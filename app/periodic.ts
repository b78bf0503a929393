/**
 * Background work the composition root runs on a timer: once now, then every interval. A failure is logged and
 * retried next time; a run still in progress is never overlapped. The stop function waits for a run in progress,
 * so the database is not closed under it.
 */
import type { Logger } from '../domain/shared/logger.js';

export function runPeriodically(name: string, work: () => Promise<void>, log: Logger, intervalMs: number): () => Promise<void> {
  let running: Promise<void> | null = null;
  const tick = (): void => {
    if (running) return;
    running = work()
      .catch((e: unknown) => log.error({ task: name, err: e instanceof Error ? e.message : String(e) }, 'background task failed'))
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
