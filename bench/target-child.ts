/**
 * One broker in its own process, so its CPU time and RSS are its own: `node dist/bench/target-child.js
 * <spheregate|bare-aedes> <dataDir>`. Driven over IPC by bench/run.ts: answers `usage` with its process usage and
 * `close` by closing and exiting.
 */
import { pkiFilesOf, startBareAedesTarget, startSpheregateTarget, type BrokerTarget } from './targets.js';

const [name, dataDir] = process.argv.slice(2);
if (!dataDir || (name !== 'spheregate' && name !== 'bare-aedes')) throw new Error('usage: target-child.js <spheregate|bare-aedes> <dataDir>');
const target: BrokerTarget = name === 'spheregate' ? await startSpheregateTarget(dataDir) : await startBareAedesTarget(pkiFilesOf(dataDir));
process.on('message', (message: { cmd: 'usage' | 'close' }) => {
  if (message.cmd === 'usage') void target.usage().then((usage) => process.send?.({ usage }));
  else void target.close().then(() => process.exit(0));
});
process.send?.({ ready: true, mqttPort: target.mqttPort });
