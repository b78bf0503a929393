/**
 * One worker process of a WorkerFleet (fleet-workers.ts): runs its slice of the fleet and reports its summary to
 * the parent four times a second; on `stop` (or when the parent goes away) it stops its devices and exits.
 */
import { Fleet } from './fleet.js';
import type { WorkerCommand, WorkerReport } from './fleet-workers.js';

let fleet: Fleet | null = null;
let ticker: NodeJS.Timeout | null = null;

const report = (final = false): void => {
  if (fleet && process.connected) process.send?.({ summary: fleet.summary(), final } satisfies WorkerReport);
};

async function stop(): Promise<void> {
  if (ticker) clearInterval(ticker);
  await fleet?.stop();
  report(true);
  process.exit(0);
}

process.on('message', (message: WorkerCommand) => {
  if (message.cmd === 'start' && fleet === null) {
    fleet = new Fleet(message.options);
    void fleet.start();
    ticker = setInterval(() => report(), 250);
  } else if (message.cmd === 'stop') {
    void stop();
  }
});
// A parent that dies without saying so must not leave devices connected.
process.on('disconnect', () => void stop());
// Ctrl-C reaches the whole process group: the parent decides when workers stop.
process.on('SIGINT', () => undefined);
