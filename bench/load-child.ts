/**
 * The load generator in its own process, so the broker's process CPU is the broker's alone. Driven over IPC by
 * bench/run.ts: `storm` -> runs the connect storm and answers its result; `release` -> disconnects and exits.
 */
import { connectStorm, type Storm, type StormOptions } from './connect-storm.js';

let storm: Storm | null = null;
process.on('message', (message: { cmd: 'storm'; options: StormOptions } | { cmd: 'release' }) => {
  if (message.cmd === 'storm') {
    void connectStorm(message.options).then((s) => {
      storm = s;
      process.send?.({ result: s.result });
    });
  } else {
    void (storm?.release() ?? Promise.resolve()).then(() => process.exit(0));
  }
});
process.send?.({ ready: true });
