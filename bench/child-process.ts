/**
 * Node brokers (and the rollout's HTTPS floor) in their own process (dist/bench/target-child.js,
 * dist/bench/floor-child.js), behind the same interfaces as the in-process targets of targets.ts, so a scenario
 * reads the server's own CPU time and RSS, not the load generator's. The parent talks to the child over IPC with
 * numbered requests, so concurrent questions cannot get crossed answers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { StatusEventPayload } from './fronts.js';
import type { HttpsFloor } from './https-floor.js';
import type { BareAedesTarget, HandshakeCounts, ProcessUsage, RunningSpheregate, SpheregateOptions } from './targets.js';
import type { Vitals } from './vitals.js';

/**
 * What the parent may ask: the process's usage, its vitals (RSS, heap, CPU, event-loop delay since the last
 * ask), bare Aedes's count of received publishes, a floor broadcast (bench/fronts.ts), the HTTPS floor to serve
 * a file, a node broker's TLS handshake counts, or to close and exit.
 */
export type ChildCommand =
  | { readonly cmd: 'usage' | 'vitals' | 'received' | 'handshakes' | 'close' }
  | { readonly cmd: 'broadcast'; readonly event: Omit<StatusEventPayload, 'at'> }
  | { readonly cmd: 'serve'; readonly file: string };
export type ChildRequest = ChildCommand & { readonly id: number };
export type ChildResult = ProcessUsage | Vitals | HandshakeCounts | number | null;

/** What the child tells once it listens. Spheregate's fields are null for bare Aedes; the fronts' when not asked for. */
export interface ChildInfo {
  readonly mqttPort: number;
  readonly graphqlUrl: string | null;
  readonly adminKey: string | null;
  readonly rootCaPem: string | null;
  readonly graphqlHttpUrl: string | null;
  readonly plainUrl: string | null;
  readonly floorWsUrl: string | null;
}

/** What bench/floor-child.ts tells once it listens. */
export interface FloorChildInfo {
  readonly url: string;
}

export type ChildMessage<I = ChildInfo> =
  | { readonly ready: I }
  | { readonly id: number; readonly result: ChildResult }
  | { readonly id: number; readonly error: string };

/** Launched as `target-child.js <name> <dataDir> <SpheregateOptions as JSON>`. */
export type ChildName = 'spheregate' | 'bare-aedes';

interface Child<I> {
  readonly info: I;
  ask(command: ChildCommand): Promise<ChildResult>;
  close(): Promise<void>;
}

async function spawnChild<I>(script: string, args: readonly string[], label: string): Promise<Child<I>> {
  const child: ChildProcess = fork(new URL(script, import.meta.url), [...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // BENCH_CHILD_CPU_PROF=<dir>: each child writes a V8 CPU profile there when it exits (where its time goes).
    execArgv: ['--expose-gc', ...(process.env['BENCH_CHILD_CPU_PROF'] ? ['--cpu-prof', `--cpu-prof-dir=${process.env['BENCH_CHILD_CPU_PROF']}`] : [])],
  });
  const pending = new Map<number, { resolve: (v: ChildResult) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<I>((resolve, reject) => {
    child.on('message', (raw) => {
      const message = raw as ChildMessage<I>;
      if ('ready' in message) return resolve(message.ready);
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if ('error' in message) waiter?.reject(new Error(`${label} child: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    child.once('exit', (code) => {
      const error = new Error(`${label} child exited (code ${code})`);
      reject(error);
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
    });
  });
  const info = await ready;
  const ask: Child<I>['ask'] = (command) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      const request: ChildRequest = { ...command, id };
      child.send(request);
    });
  return {
    info,
    ask,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      await ask({ cmd: 'close' }).catch(() => undefined);
      await exited;
    },
  };
}

const asUsage = (v: ChildResult): ProcessUsage => {
  if (v === null || typeof v !== 'object' || !('cpuMs' in v) || 'lagP99Ms' in v) throw new Error('child answered usage with no usage');
  return v;
};
const asHandshakes = (v: ChildResult): HandshakeCounts => {
  if (v === null || typeof v !== 'object' || !('resumed' in v)) throw new Error('child answered handshakes with no counts');
  return v;
};
const asVitals = (v: ChildResult): Vitals => {
  if (v === null || typeof v !== 'object' || !('lagP99Ms' in v)) throw new Error('child answered vitals with no vitals');
  return v;
};

export async function startSpheregateChild(dataDir: string, opts: SpheregateOptions = {}): Promise<RunningSpheregate> {
  const child = await spawnChild<ChildInfo>('./target-child.js', ['spheregate', dataDir, JSON.stringify(opts)], 'spheregate');
  const { info } = child;
  if (info.graphqlUrl === null || info.adminKey === null || info.rootCaPem === null) throw new Error('spheregate child did not say where it listens');
  return {
    name: 'spheregate',
    mqttPort: info.mqttPort,
    graphqlUrl: info.graphqlUrl,
    adminKey: info.adminKey,
    rootCaPem: info.rootCaPem,
    fronts:
      info.graphqlHttpUrl !== null && info.plainUrl !== null && info.floorWsUrl !== null
        ? {
            graphqlHttpUrl: info.graphqlHttpUrl,
            plainUrl: info.plainUrl,
            floorWsUrl: info.floorWsUrl,
            broadcast: async (event) => Number(await child.ask({ cmd: 'broadcast', event })),
          }
        : null,
    usage: async () => asUsage(await child.ask({ cmd: 'usage' })),
    tlsHandshakes: async () => asHandshakes(await child.ask({ cmd: 'handshakes' })),
    vitals: async () => asVitals(await child.ask({ cmd: 'vitals' })),
    close: () => child.close(),
  };
}

export async function startBareAedesChild(dataDir: string): Promise<BareAedesTarget> {
  const child = await spawnChild<ChildInfo>('./target-child.js', ['bare-aedes', dataDir, '{}'], 'bare-aedes');
  return {
    name: 'bare-aedes',
    mqttPort: child.info.mqttPort,
    usage: async () => asUsage(await child.ask({ cmd: 'usage' })),
    receivedPublishes: async () => Number(await child.ask({ cmd: 'received' })),
    tlsHandshakes: async () => asHandshakes(await child.ask({ cmd: 'handshakes' })),
    close: () => child.close(),
  };
}

/** The rollout's HTTPS floor (bench/https-floor.ts) in its own process, with the PKI of a Spheregate data dir. */
export async function startHttpsFloorChild(dataDir: string): Promise<HttpsFloor> {
  const child = await spawnChild<FloorChildInfo>('./floor-child.js', [dataDir], 'https-floor');
  return {
    url: child.info.url,
    serve: async (file) => void (await child.ask({ cmd: 'serve', file })),
    usage: async () => asUsage(await child.ask({ cmd: 'usage' })),
    close: () => child.close(),
  };
}
