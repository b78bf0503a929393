/**
 * The built CLIs as an operator runs them, each in its own process (one build for the file):
 *   - `npm start`: SIGTERM must drain in order (devices disconnected and recorded, database closed last) and exit 0
 *     — one signal, not two;
 *   - `device-agent fleet --workers 2`: the devices run in worker processes and Ctrl-C stops them all cleanly.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestService, type TestService } from '../harness.js';

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

beforeAll(async () => {
  // The CLIs run from dist/ (what `npm start` and `npx device-agent` run); build it from the sources under test.
  await run('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root }).catch((e: unknown) => {
    // tsc still emits on type errors; the type check is `npm run lint`'s job, not this test's.
    if (!(e && typeof e === 'object' && 'code' in e && e.code === 2)) throw e;
  });
}, 120_000);

describe('the spheregate process', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'sg-proc-'));
  });

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

describe('the device-agent fleet in worker processes', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService('sqlite');
  });
  afterAll(async () => {
    await svc.dispose();
  });

  test('runs 20 devices in 2 workers, adds up their summaries, and stops them all on SIGINT', async () => {
    const child = spawn(
      process.execPath,
      [
        'dist/device-agent/cli.js',
        'fleet',
        '--count', '20',
        '--workers', '2',
        '--service', svc.graphqlUrl.replace(/\/graphql$/, ''),
        '--broker', svc.mqttUrl,
        '--admin-key', svc.running.adminKey,
        '--ca', join(svc.dataDir, 'pki', 'root-ca.pem'),
        '--no-attest',
        '--ramp', '200',
      ],
      { cwd: root, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    let stdout = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    await until(() => stderr.includes('all 20 devices online'), 60_000);
    expect(stderr).toContain('running the devices in 2 worker processes');
    expect(svc.running.broker.connectedDevices()).toBe(20);

    child.kill('SIGINT');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^0\/20 online, 0 certified, 20 started/);
    await until(() => svc.running.broker.connectedDevices() === 0, 10_000);
  }, 120_000);
});
