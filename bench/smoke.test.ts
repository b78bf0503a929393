/**
 * The benchmark's smoke mode, so it cannot rot: the connect-storm scenario end to end with a handful of devices
 * and one repetition, against all three brokers (Mosquitto included), clients in this process.
 */
import { runAttestation } from './attestation.js';
import { runConnectStorm } from './run.js';

test('the connect-storm scenario runs end to end against Spheregate, bare Aedes and Mosquitto', async () => {
  const report = await runConnectStorm({ devices: 4, reps: 1, isolate: false, concurrency: 2 });
  for (const target of ['spheregate', 'bare-aedes', 'mosquitto'] as const) {
    const [run] = report.runs[target];
    expect({ target, failed: run?.failed }).toEqual({ target, failed: 0 });
    expect(run?.connectionsPerSecond).toBeGreaterThan(0);
    expect(run?.p99ConnackMs).toBeGreaterThan(0);
    expect(Number.isFinite(run?.brokerCpuMsPerConnection)).toBe(true);
  }
  expect(Number.isFinite(report.ratios.vsMosquitto.connectionsPerSecond)).toBe(true);
  expect(Number.isFinite(report.ratios.vsBareAedes.p99ConnackMs)).toBe(true);
}, 120_000);

test('the attestation scenario runs end to end and measures its floor', async () => {
  const report = await runAttestation({ devices: 3, reps: 1, concurrency: 2 });
  expect(report.failed).toBe(0);
  expect(report.certificatesPerSecond.median).toBeGreaterThan(0);
  expect(report.bareSigningPerSecond.median).toBeGreaterThan(0);
  expect(Number.isFinite(report.ratio)).toBe(true);
}, 120_000);
