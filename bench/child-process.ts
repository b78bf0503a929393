/**
 * Node brokers in their own process (dist/bench/target-child.js), behind the same interfaces as the in-process
 * targets of targets.ts, so a scenario reads the broker's own CPU time and RSS, not the load generator's. The
 * parent talks to the child over IPC with numbered requests, so concurrent questions cannot get crossed answers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { StatusEventPayload } from './fronts.js';
import type { BareAedesTarget, ProcessUsage, RunningSpheregate, SpheregateOptions } from './targets.js';

/**
 * What the parent may ask: the process's usage, bare Aedes's count of received publishes, a floor broadcast
 * (bench/fronts.ts), or to close and exit.
 */
export type ChildCommand =
  | { readonly cmd: 'usage' | 'received' | 'close' }
  | { readonly cmd: 'broadcast'; readonly event: Omit<StatusEventPayload, 'at'> };
export type ChildRequest = ChildCommand & { readonly id: number };

/** What the child tells once it listens. Spheregate's fields are null for bare Aedes; the fronts' when not asked for. */
export interface ChildInfo {
  readonly mqttPort: number;
  readonly graphqlUrl: string | null;
  readonly adminKey: string | null;
  readonly rootCaPem: string | null;
  readonly plainUrl: string | null;
  readonly floorWsUrl: string | null;
}

export type ChildMessage =
  | { readonly ready: ChildInfo }
  | { readonly id: number; readonly result: ProcessUsage | number | null }
  | { readonly id: number; readonly error: string };

/** Launched as `target-child.js <name> <dataDir> <SpheregateOptions as JSON>`. */
export type ChildName = 'spheregate' | 'bare-aedes';

interface Child {
  readonly info: ChildInfo;
  ask(command: ChildCommand): Promise<ProcessUsage | number | null>;
  close(): Promise<void>;
}

async function spawnChild(name: ChildName, dataDir: string, opts: SpheregateOptions): Promise<Child> {
  const child: ChildProcess = fork(new URL('./target-child.js', import.meta.url), [name, dataDir, JSON.stringify(opts)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--expose-gc'],
  });
  const pending = new Map<number, { resolve: (v: ProcessUsage | number | null) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  const ready = new Promise<ChildInfo>((resolve, reject) => {
    child.on('message', (raw) => {
      const message = raw as ChildMessage;
      if ('ready' in message) return resolve(message.ready);
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if ('error' in message) waiter?.reject(new Error(`${name} child: ${message.error}`));
      else waiter?.resolve(message.result);
    });
    child.once('exit', (code) => {
      const error = new Error(`${name} child exited (code ${code})`);
      reject(error);
      for (const waiter of pending.values()) waiter.reject(error);
      pending.clear();
    });
  });
  const info = await ready;
  const ask: Child['ask'] = (command) =>
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

const asUsage = (v: ProcessUsage | number | null): ProcessUsage => {
  if (v === null || typeof v === 'number') throw new Error('child answered usage with no usage');
  return v;
};

export async function startSpheregateChild(dataDir: string, opts: SpheregateOptions = {}): Promise<RunningSpheregate> {
  const child = await spawnChild('spheregate', dataDir, opts);
  const { info } = child;
  if (info.graphqlUrl === null || info.adminKey === null || info.rootCaPem === null) throw new Error('spheregate child did not say where it listens');
  return {
    name: 'spheregate',
    mqttPort: info.mqttPort,
    graphqlUrl: info.graphqlUrl,
    adminKey: info.adminKey,
    rootCaPem: info.rootCaPem,
    fronts:
      info.plainUrl !== null && info.floorWsUrl !== null
        ? {
            plainUrl: info.plainUrl,
            floorWsUrl: info.floorWsUrl,
            broadcast: async (event) => Number(await child.ask({ cmd: 'broadcast', event })),
          }
        : null,
    usage: async () => asUsage(await child.ask({ cmd: 'usage' })),
    close: () => child.close(),
  };
}

export async function startBareAedesChild(dataDir: string): Promise<BareAedesTarget> {
  const child = await spawnChild('bare-aedes', dataDir, {});
  return {
    name: 'bare-aedes',
    mqttPort: child.info.mqttPort,
    usage: async () => asUsage(await child.ask({ cmd: 'usage' })),
    receivedPublishes: async () => Number(await child.ask({ cmd: 'received' })),
    close: () => child.close(),
  };
}
