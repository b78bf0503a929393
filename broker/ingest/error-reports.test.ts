/**
 * The error-reports ingest without a database: which events reach the service, and what the device is told. An
 * event that breaks the contract's event schema is refused alone, like one the service refuses; a batch whose
 * envelope is wrong is refused whole. (Storage on both databases: test/e2e/error-reports.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { MAX_ERROR_EVENTS_PER_BATCH, MAX_ERROR_REPORTS_BYTES } from '../../contract/mqtt/messages.js';
import { forbidden } from '../../domain/shared/errors.js';
import type { ErrorReportsService } from '../../domain/services.js';
import type { ErrorIngestResult, ErrorReportBatch } from '../../domain/views.js';
import type { IngestContext } from './context.js';
import { ingestErrorReports } from './error-reports.js';

const deviceId = 'E'.repeat(128);
const bytes = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
const AT = '2026-12-02T10:15:00.000Z';
const event = (over: Record<string, unknown> = {}): Record<string, unknown> => ({ eventId: randomUUID(), category: 'OSCrash', count: 1, startTime: AT, endTime: AT, ...over });

/** A service that stores every event it is given, but refuses those listed (by event ID) or fails as told. */
function serviceStoring(into: ErrorReportBatch[], refuse: Readonly<Record<string, string>> = {}, fail?: unknown): ErrorReportsService {
  const unused = (): never => {
    throw new Error('not used by error-reports ingest');
  };
  return {
    report: (id, batch): Promise<ErrorIngestResult> => {
      expect(id).toBe(deviceId);
      if (fail !== undefined) return Promise.reject(fail);
      into.push(batch);
      const refused = batch.events.filter((e) => e.eventId in refuse).map((e) => ({ eventId: e.eventId, reason: refuse[e.eventId]! }));
      return Promise.resolve({ stored: batch.events.length - refused.length, duplicates: 0, rateLimited: 0, refused });
    },
    listErrorReports: unused,
    exportErrorReports: unused,
    errorSummary: unused,
    listIssues: unused,
    getIssue: unused,
    purgeExpired: unused,
  };
}

const context = (errorReports: ErrorReportsService | null): IngestContext => ({
  presence: null as never,
  attestation: null,
  errorReports,
  deployments: null,
  delivery: null,
  deviceId,
  reply: () => Promise.reject(new Error('error-reports ingest replies through its outcome')),
});

async function ingest(payload: unknown, refuse: Readonly<Record<string, string>> = {}): Promise<{ outcome: unknown; stored: string[] }> {
  const batches: ErrorReportBatch[] = [];
  const outcome = await ingestErrorReports(context(serviceStoring(batches, refuse)), Buffer.isBuffer(payload) ? payload : bytes(payload));
  return { outcome, stored: batches.flatMap((b) => b.events.map((e) => e.eventId)) };
}

describe('an event that breaks the event schema is refused alone; the batch keeps its other events', () => {
  test.each([
    ['an over-long description', { description: 'x'.repeat(201) }, '/description: Expected string length less or equal to 200'],
    ['an unknown category', { category: 'Meltdown' }, '/category: Expected union value'],
    ['a missing count', { count: undefined }, '/count: Expected required property'],
    ['a time that is no ISO time', { endTime: 'yesterday' }, String.raw`/endTime: Expected string to match '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$'`],
    ['an unknown field', { severity: 'high' }, '/severity: Unexpected property'],
    ['a signal out of range', { signal: 0 }, '/signal: Expected integer to be greater or equal to 1'],
  ])('%s', async (_name, over, reason) => {
    const good = event();
    const bad = event(over);
    const { outcome, stored } = await ingest({ v: 1, events: [good, bad], droppedTotal: 3 });
    expect(stored).toEqual([good.eventId]);
    expect(outcome).toEqual({ kind: 'partly-stored', code: 'BAD_PAYLOAD', message: `1 of 2 events refused: ${String(bad.eventId)}: ${reason}` });
  });

  test('an event without a well-formed ID is named by its place in the batch', async () => {
    const good = event();
    const { outcome, stored } = await ingest({ v: 1, events: [event({ eventId: 'not-a-uuid' }), good, event({ eventId: undefined, count: 0 })] });
    expect(stored).toEqual([good.eventId]);
    expect(outcome).toEqual({
      kind: 'partly-stored',
      code: 'BAD_PAYLOAD',
      message: "2 of 3 events refused: /events/0: /eventId: Expected string to match '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'; /events/2: /eventId: Expected required property",
    });
  });

  test('a time that matches the pattern but is no date is refused by the service for that event alone', async () => {
    const good = event();
    const month13 = event({ endTime: '2026-13-02T10:15:00.000Z' });
    const batches: ErrorReportBatch[] = [];
    await ingestErrorReports(context(serviceStoring(batches)), bytes({ v: 1, events: [good, month13] }));
    expect(batches).toHaveLength(1);
    expect(batches[0]!.events.map((e) => [e.eventId, Number.isNaN(e.endTime.getTime())])).toEqual([
      [good.eventId, false],
      [month13.eventId, true],
    ]);
  });

  test("schema refusals and the service's own are named in one reply, the counts over the whole batch", async () => {
    const [good, refusedByService, tooLong] = [event(), event(), event({ description: 'y'.repeat(300) })];
    const { outcome, stored } = await ingest({ v: 1, events: [good, tooLong, refusedByService] }, { [String(refusedByService.eventId)]: 'endTime is in the future' });
    expect(stored).toEqual([good.eventId, refusedByService.eventId]);
    expect(outcome).toEqual({
      kind: 'partly-stored',
      code: 'BAD_PAYLOAD',
      message: `2 of 3 events refused: ${String(tooLong.eventId)}: /description: Expected string length less or equal to 200; ${String(refusedByService.eventId)}: endTime is in the future`,
    });
  });

  test('the good events are given to the service exactly as they were read', async () => {
    const app = { category: 'AppCrash', componentId: randomUUID(), imageId: randomUUID(), exitCode: -7, signal: 11, description: 'segv', count: 4 };
    const good = event(app);
    const batches: ErrorReportBatch[] = [];
    await ingestErrorReports(context(serviceStoring(batches)), bytes({ v: 1, events: [event({ category: 'Nope' }), good], droppedTotal: 9 }));
    expect(batches).toEqual([{ events: [{ ...app, eventId: good.eventId, startTime: new Date(AT), endTime: new Date(AT) }], droppedTotal: 9 }]);
  });
});

describe('a batch refused as a whole, nothing given to the service', () => {
  test('every event breaks the event schema: rejected, each named', async () => {
    const [a, b] = [event({ category: 'Meltdown' }), event({ description: '' })];
    const { outcome, stored } = await ingest({ v: 1, events: [a, b] });
    expect(stored).toEqual([]);
    expect(outcome).toEqual({
      kind: 'rejected',
      code: 'BAD_PAYLOAD',
      message: `2 of 2 events refused: ${String(a.eventId)}: /category: Expected union value; ${String(b.eventId)}: /description: Expected string length greater or equal to 1`,
    });
  });

  test('every event left after the schema is refused by the service: rejected', async () => {
    const [a, b] = [event({ category: 'Meltdown' }), event()];
    const { outcome } = await ingest({ v: 1, events: [a, b] }, { [String(b.eventId)]: 'endTime is in the future' });
    expect(outcome).toEqual({
      kind: 'rejected',
      code: 'BAD_PAYLOAD',
      message: `2 of 2 events refused: ${String(a.eventId)}: /category: Expected union value; ${String(b.eventId)}: endTime is in the future`,
    });
  });

  test.each([
    ['not JSON', '{"v":1,"events":[', 'payload is not valid JSON'],
    ['not an object', [event()], '/: Expected object'],
    ['a wrong version', { v: 2, events: [event()] }, '/v: Expected 1'],
    ['events not an array', { v: 1, events: event() }, '/events: Expected array'],
    ['no events', { v: 1, events: [] }, '/events: Expected array length to be greater or equal to 1'],
    ['too many events', { v: 1, events: Array.from({ length: MAX_ERROR_EVENTS_PER_BATCH + 1 }, () => event()) }, `/events: Expected array length to be less or equal to ${MAX_ERROR_EVENTS_PER_BATCH}`],
    ['an event that is not an object', { v: 1, events: [event(), 'crash'] }, '/events/1: Expected object'],
    ['an event that is null', { v: 1, events: [event(), null] }, '/events/1: Expected object'],
    ['an event that is an array', { v: 1, events: [event(), [event()]] }, '/events/1: Expected object'],
    ['an unknown batch field', { v: 1, events: [event()], extra: true }, '/extra: Unexpected property'],
    ['a droppedTotal below zero', { v: 1, events: [event()], droppedTotal: -1 }, '/droppedTotal: Expected integer to be greater or equal to 0'],
    ['over the byte limit', { v: 1, events: [event({ description: 'x'.repeat(200) })], padding: 'y'.repeat(MAX_ERROR_REPORTS_BYTES) }, `at most ${MAX_ERROR_REPORTS_BYTES} are accepted`],
  ])('%s', async (_name, payload, fragment) => {
    const { outcome, stored } = await ingest(payload);
    expect(stored).toEqual([]);
    expect(outcome).toMatchObject({ kind: 'rejected', code: 'BAD_PAYLOAD', message: expect.stringContaining(fragment) });
  });

  test('an unclaimed device is refused as before (the domain says FORBIDDEN)', async () => {
    const outcome = await ingestErrorReports(context(serviceStoring([], {}, forbidden('The device is not claimed'))), bytes({ v: 1, events: [event(), event({ category: 'x' })] }));
    expect(outcome).toEqual({ kind: 'rejected', code: 'FORBIDDEN', message: 'The device is not claimed' });
  });

  test('a node that takes no error reports refuses a well-formed batch', async () => {
    expect(await ingestErrorReports(context(null), bytes({ v: 1, events: [event()] }))).toMatchObject({ kind: 'rejected', code: 'FORBIDDEN' });
  });
});

test('a batch the schema and the service take whole is stored', async () => {
  const events = [event(), event()];
  const { outcome, stored } = await ingest({ v: 1, events });
  expect(outcome).toEqual({ kind: 'stored' });
  expect(stored).toEqual(events.map((e) => e.eventId));
});

test('an internal failure is thrown, so the batch is not acknowledged', async () => {
  const failure = new Error('database unavailable');
  await expect(ingestErrorReports(context(serviceStoring([], {}, failure)), bytes({ v: 1, events: [event(), event({ category: 'x' })] }))).rejects.toBe(failure);
});
