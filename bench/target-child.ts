/**
 * One broker in its own process, so its CPU time and RSS are its own: `node dist/bench/target-child.js
 * <spheregate|bare-aedes> <dataDir> [<SpheregateOptions as JSON>]`. Driven over IPC by bench/child-process.ts
 * (numbered requests, see ChildRequest): `usage` -> the process's usage, `vitals` -> its vitals (bench/vitals.ts; Spheregate only), `received` -> bare Aedes's count of
 * client publishes, `handshakes` -> the broker's TLS handshakes and resumptions so far, `broadcast` -> a floor broadcast of bench/fronts.ts, `close` -> closes and exits.
 */
import '../app/production-mode.js'; // first, as the service's own entry point does
import type { ChildInfo, ChildMessage, ChildRequest } from './child-process.js';
import { pkiFilesOf, startBareAedesTarget, startSpheregateTarget, type BareAedesTarget, type HandshakeCountingTarget, type RunningSpheregate, type SpheregateOptions } from './targets.js';

const [name, dataDir, optionsJson] = process.argv.slice(2);
if (!dataDir || (name !== 'spheregate' && name !== 'bare-aedes')) throw new Error('usage: target-child.js <spheregate|bare-aedes> <dataDir> [options JSON]');
const options = JSON.parse(optionsJson ?? '{}') as SpheregateOptions;

const send = (message: ChildMessage, then?: () => void): void => void process.send?.(message, undefined, {}, () => then?.());
const spheregate: RunningSpheregate | null = name === 'spheregate' ? await startSpheregateTarget(dataDir, options) : null;
const aedes: BareAedesTarget | null = name === 'bare-aedes' ? await startBareAedesTarget(pkiFilesOf(dataDir)) : null;
const target: HandshakeCountingTarget = spheregate ?? aedes ?? fail('no target');

function fail(message: string): never {
  throw new Error(message);
}

async function answer(request: ChildRequest): Promise<ChildMessage> {
  switch (request.cmd) {
    case 'usage':
      return { id: request.id, result: await target.usage() };
    case 'vitals':
      if (!spheregate) throw new Error('only Spheregate reports its vitals');
      return { id: request.id, result: await spheregate.vitals() };
    case 'handshakes':
      return { id: request.id, result: await target.tlsHandshakes() };
    case 'received':
      if (!aedes) throw new Error('only bare Aedes counts received publishes');
      return { id: request.id, result: await aedes.receivedPublishes() };
    case 'broadcast':
      if (!spheregate?.fronts) throw new Error('started without fronts');
      return { id: request.id, result: await spheregate.fronts.broadcast(request.event) };
    case 'close':
      await target.close();
      return { id: request.id, result: null };
    case 'serve':
      throw new Error('only the HTTPS floor serves files');
  }
}

process.on('message', (request: ChildRequest) => {
  answer(request).then(
    // After `close`, exit once the reply is on its way (whatever handles the broker left open).
    (reply) => send(reply, request.cmd === 'close' ? () => process.exit(0) : undefined),
    (e: unknown) => send({ id: request.id, error: e instanceof Error ? e.message : String(e) }),
  );
});

const info: ChildInfo = {
  mqttPort: target.mqttPort,
  graphqlUrl: spheregate?.graphqlUrl ?? null,
  adminKey: spheregate?.adminKey ?? null,
  rootCaPem: spheregate?.rootCaPem ?? null,
  graphqlHttpUrl: spheregate?.fronts?.graphqlHttpUrl ?? null,
  plainUrl: spheregate?.fronts?.plainUrl ?? null,
  floorWsUrl: spheregate?.fronts?.floorWsUrl ?? null,
};
send({ ready: info });
