import { badInput } from '../../domain/shared/errors.js';
import type { PresenceService } from '../../domain/services.js';
import type { DeviceStatusReport } from '../../domain/views.js';
import type { IngestContext } from './context.js';
import { ingestStatus } from './status.js';

/** A context with only presence: this node delivers no updates. */
const only = (presence: PresenceService): IngestContext => ({
  presence,
  attestation: null,
  errorReports: null,
  deployments: null,
  delivery: null,
  deviceId,
  reply: () => Promise.reject(new Error('status ingest sends nothing without updates')),
});

const deviceId = 'D'.repeat(128);
const bytes = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
const image = { componentId: '11111111-2222-3333-4444-555555555555', imageId: '66666666-7777-8888-9999-000000000000' };

function presenceStoring(into: DeviceStatusReport[], fail?: unknown): PresenceService {
  const unused = (): never => {
    throw new Error('not used by status ingest');
  };
  return {
    admit: unused,
    connected: unused,
    disconnected: unused,
    touch: unused,
    resetNode: unused,
    reportStatus: async (id, report) => {
      expect(id).toBe(deviceId);
      if (fail !== undefined) throw fail;
      into.push(report);
    },
  };
}

test('stores a valid report, optional image fields as null', async () => {
  const stored: DeviceStatusReport[] = [];
  const outcome = await ingestStatus(
    only(presenceStoring(stored)),
    bytes({ v: 1, osVersion: '1.0', uptimeSeconds: 5, installedImages: [image, { ...image, name: 'app', version: '2' }] }),
  );
  expect(outcome).toEqual({ kind: 'stored' });
  expect(stored).toEqual([
    { osVersion: '1.0', uptimeSeconds: 5, installedImages: [{ ...image, name: null, version: null }, { ...image, name: 'app', version: '2' }] },
  ]);
});

test.each([
  ['not JSON', '{', 'payload is not valid JSON'],
  ['not UTF-8 JSON', Buffer.from([0xff, 0xfe]), 'payload is not valid JSON'],
  ['a wrong version', { v: 2, osVersion: '1', uptimeSeconds: 1, installedImages: [] }, '/v'],
  ['an unknown field', { v: 1, osVersion: '1', uptimeSeconds: 1, installedImages: [], extra: true }, ''],
  ['a bad image id', { v: 1, osVersion: '1', uptimeSeconds: 1, installedImages: [{ ...image, imageId: 'x' }] }, '/installedImages/0/imageId'],
])('rejects %s as BAD_PAYLOAD without storing', async (_name, payload, fragment) => {
  const stored: DeviceStatusReport[] = [];
  const outcome = await ingestStatus(only(presenceStoring(stored)), Buffer.isBuffer(payload) ? payload : bytes(payload));
  expect(outcome).toMatchObject({ kind: 'rejected', code: 'BAD_PAYLOAD', message: expect.stringContaining(fragment) });
  expect(stored).toEqual([]);
});

test('a domain refusal becomes a device-facing rejection', async () => {
  const outcome = await ingestStatus(only(presenceStoring([], badInput('osVersion', 'unknown'))), bytes({ v: 1, osVersion: 'x', uptimeSeconds: 0, installedImages: [] }));
  expect(outcome).toEqual({ kind: 'rejected', code: 'BAD_PAYLOAD', message: 'osVersion: unknown' });
});

test('an internal failure is thrown, so the message is not acknowledged', async () => {
  const failure = new Error('database unavailable');
  await expect(
    ingestStatus(only(presenceStoring([], failure)), bytes({ v: 1, osVersion: 'x', uptimeSeconds: 0, installedImages: [] })),
  ).rejects.toBe(failure);
});
