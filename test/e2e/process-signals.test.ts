/**
 * `npm start` as an operator runs it: the built CLI in its own process. SIGTERM must drain in order (devices
 * disconnected and recorded, database closed last) and exit 0 — one signal, not two.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = process.cwd();

interface LogLine {
  readonly msg?: string;
  readonly level?: number;
  readonly graphql?: string;
}

function collectLines(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let rest = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    rest += chunk.toString('utf8');
    const parts = rest.split('\n');
    rest = parts.pop() ?? '';
    for (const part of parts) {
      if (!part.startsWith('{')) continue;
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        // a line of the admin-key banner, not a log record
      }
    }
  });
  return lines;
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the spheregate process', () => {
  let dataDir: string;

  beforeAll(async () => {
    // The CLI runs from dist/ (what `npm start` runs); build it from the sources under test.
    await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch((e: unknown) => {
      // tsc still emits on type errors; the type check is `npm run lint`'s job, not this test's.
      if (!(e && typeof e === 'object' && 'code' in e && e.code === 2)) throw e;
    });
    dataDir = await mkdtemp(join(tmpdir(), 'sg-proc-'));
  }, 120_000);

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  test('stops cleanly on one SIGTERM, closing the database last, and exits 0', async () => {
    const child = spawn(process.execPath, ['dist/app/cli.js', 'start'], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        SPHEREGATE_DATA_DIR: dataDir,
        SPHEREGATE_HTTP_PORT: '0',
        SPHEREGATE_MQTT_PORT: '0',
        SPHEREGATE_DOWNLOAD_PORT: '0',
        SPHEREGATE_BIND_ADDRESS: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const lines = collectLines(child);
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await until(() => lines.some((l) => l.msg === 'Spheregate is running'), 30_000);

    const running = lines.find((l) => l.msg === 'Spheregate is running');
    const health = await fetch(String(running?.graphql).replace('/graphql', '/healthz'));
    expect(health.status).toBe(200);

    child.kill('SIGTERM');
    const [code] = await exited;

    const messages = lines.map((l) => l.msg);
    expect(code).toBe(0);
    expect(messages).not.toContain('second signal: exiting now');
    expect(messages.indexOf('shutting down')).toBeGreaterThan(-1);
    expect(messages.indexOf('MQTT broker closed')).toBeGreaterThan(messages.indexOf('shutting down'));
    expect(messages.at(-1)).toBe('stopped');
  }, 60_000);
});
