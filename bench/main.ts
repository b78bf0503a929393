/**
 * `npm run bench [-- --devices N --reps R]`: runs the benchmark scenarios and writes bench/results/<scenario>.json
 * and bench/RESULTS.md. Never part of `npm test` (bench/smoke.test.ts runs the same code with tiny counts).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runAttestation, type AttestationReport } from './attestation.js';
import { runConnectStorm, type ConnectStormReport } from './run.js';

const { values } = parseArgs({ options: { devices: { type: 'string' }, reps: { type: 'string' } } });
const devices = Number(values.devices ?? 2000);
const reps = Number(values.reps ?? 3);
if (!Number.isInteger(devices) || devices < 1 || !Number.isInteger(reps) || reps < 1) throw new Error('--devices and --reps must be positive integers');

const root = fileURLToPath(new URL('../../', import.meta.url));
const progress = (line: string): void => console.error(line);
const report = await runConnectStorm({ devices, reps, isolate: true, onProgress: progress });
const attestation = await runAttestation({ devices: Math.min(devices, 1000), reps, onProgress: progress });
await mkdir(join(root, 'bench', 'results'), { recursive: true });
const facts = await machineFacts(root);
await writeFile(join(root, 'bench', 'results', 'connect-storm.json'), `${JSON.stringify({ facts, report }, null, 2)}\n`);
await writeFile(join(root, 'bench', 'results', 'attestation.json'), `${JSON.stringify({ facts, report: attestation }, null, 2)}\n`);
const markdown = `${renderMarkdown(facts, report)}\n${renderAttestation(attestation)}`;
await writeFile(join(root, 'bench', 'RESULTS.md'), markdown);
console.log(markdown);

function renderAttestation(r: AttestationReport): string {
  const cell = (s: { median: number; min: number; max: number }): string => `${s.median.toFixed(0)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})`;
  return [
    `## Attestation and certificate issuance: ${r.devices} connected devices, ${r.reps} repetitions`,
    '',
    '| Metric | Spheregate (MQTT, end to end) | bare PKI signing (floor) | ratio |',
    '| --- | --- | --- | --- |',
    `| certificates/s | ${cell(r.certificatesPerSecond)} | ${cell(r.bareSigningPerSecond)} | ${r.ratio.toFixed(2)}× |`,
    '',
    `Failed attestations: ${r.failed}. The devices run in the bench process too (each makes a key and a CSR and`,
    'signs its statement), so this is the rate of the whole exchange on this machine, not the service alone.',
    '',
  ].join('\n');
}

async function machineFacts(repo: string): Promise<Record<string, string>> {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch (e) {
      const out = e as { stdout?: string; stderr?: string };
      return `${out.stdout ?? ''}${out.stderr ?? ''}`.trim().split('\n')[0] ?? '?';
    }
  };
  return {
    date: new Date().toISOString(),
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
    memory: `${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
    node: process.version,
    aedes: pkg.dependencies['aedes'] ?? '?',
    mosquitto: run('mosquitto', ['-h']).split('\n')[0] ?? '?',
  };
}

function renderMarkdown(facts: Record<string, string>, r: ConnectStormReport): string {
  const fmt = (n: number, digits = 2): string => (Number.isFinite(n) ? n.toFixed(digits) : '—');
  const row = (label: string, key: keyof ConnectStormReport['medians']['spheregate'], digits = 2, scale = 1): string => {
    const cell = (t: 'spheregate' | 'bare-aedes' | 'mosquitto'): string => {
      const s = r.medians[t][key];
      return `${fmt(s.median / scale, digits)} (${fmt(s.min / scale, digits)}–${fmt(s.max / scale, digits)})`;
    };
    return `| ${label} | ${cell('spheregate')} | ${cell('bare-aedes')} | ${cell('mosquitto')} | ${fmt(r.ratios.vsBareAedes[key])}× | ${fmt(r.ratios.vsMosquitto[key])}× |`;
  };
  return [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (see bench/README.md). Medians of the repetitions, min–max in brackets; the ratios are',
    "Spheregate's median over the baseline's, measured in the same run.",
    '',
    ...Object.entries(facts).map(([k, v]) => `- ${k}: ${v}`),
    '',
    `## mTLS connect storm: ${r.devices} distinct devices, ${r.reps} repetitions`,
    '',
    '| Metric | Spheregate | bare Aedes | Mosquitto | vs bare Aedes | vs Mosquitto |',
    '| --- | --- | --- | --- | --- | --- |',
    row('connections/s', 'connectionsPerSecond', 0),
    row('broker CPU ms per connection', 'brokerCpuMsPerConnection'),
    row('time to CONNACK p50 (ms)', 'p50ConnackMs', 0),
    row('time to CONNACK p99 (ms)', 'p99ConnackMs', 0),
    row('RSS per connected idle device (KiB)', 'rssBytesPerDevice', 1, 1024),
    row('failed connections', 'failed', 0),
    '',
  ].join('\n');
}
