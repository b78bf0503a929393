/**
 * The rollout's HTTPS floor (bench/https-floor.ts) in its own process: `node dist/bench/floor-child.js <dataDir>`,
 * with the PKI of that Spheregate data dir. Driven over IPC by bench/child-process.ts: `serve` -> serve a file's
 * bytes, `usage` -> the process's usage, `close` -> closes and exits.
 */
import type { ChildMessage, ChildRequest, FloorChildInfo } from './child-process.js';
import { startHttpsFloor } from './https-floor.js';
import { pkiFilesOf, selfUsage } from './targets.js';

const [dataDir] = process.argv.slice(2);
if (!dataDir) throw new Error('usage: floor-child.js <dataDir>');

const send = (message: ChildMessage<FloorChildInfo>, then?: () => void): void => void process.send?.(message, undefined, {}, () => then?.());
const floor = await startHttpsFloor(pkiFilesOf(dataDir), selfUsage);

async function answer(request: ChildRequest): Promise<ChildMessage<FloorChildInfo>> {
  switch (request.cmd) {
    case 'usage':
      return { id: request.id, result: await floor.usage() };
    case 'serve':
      await floor.serve(request.file);
      return { id: request.id, result: null };
    case 'close':
      await floor.close();
      return { id: request.id, result: null };
    default:
      throw new Error(`the HTTPS floor does not answer ${request.cmd}`);
  }
}

process.on('message', (request: ChildRequest) => {
  answer(request).then(
    (reply) => send(reply, request.cmd === 'close' ? () => process.exit(0) : undefined),
    (e: unknown) => send({ id: request.id, error: e instanceof Error ? e.message : String(e) }),
  );
});

send({ ready: { url: floor.url } });
