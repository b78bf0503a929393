/**
 * decodeErrorReports: the batch's envelope is checked whole, each event on its own against ErrorEvent. It must
 * agree with the published schema: a batch the ErrorReports schema takes is taken whole, and one it refuses either
 * is refused whole or has at least one event refused.
 */
import { decode, decodeErrorReports } from './codec.js';
import { MAX_ERROR_EVENTS_PER_BATCH } from './messages.js';

const bytes = (value: unknown): Buffer => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value), 'utf8');
const ids = ['6c1e0f0a-5b2d-4e8f-9a71-3c4d5e6f7a8b', '7d2f1a1b-6c3e-4f90-8b82-4d5e6f7a8b9c', '8e3a2b2c-7d4f-4a01-9c93-5e6f7a8b9cad'] as const;
const event = (i: number, over: Record<string, unknown> = {}) => ({
  eventId: ids[i],
  category: 'OSCrash',
  count: 1,
  startTime: '2026-12-02T10:15:00.000Z',
  endTime: '2026-12-02T10:15:00.000Z',
  ...over,
});

test('a batch that matches the schema is taken whole, as decode takes it', () => {
  const batch = { v: 1, events: [event(0), event(1, { category: 'AppCrash', componentId: ids[2], imageId: ids[2], signal: 11, description: 'segv' })], droppedTotal: 4 };
  expect(decodeErrorReports(bytes(batch))).toEqual({ ok: true, value: batch, refused: [] });
  expect(decode('error-reports', bytes(batch))).toEqual({ ok: true, value: batch });
});

test('events that break ErrorEvent are set apart, named by index, well-formed eventId and field; the rest keep their order', () => {
  const batch = { v: 1, events: [event(0, { description: 'x'.repeat(201) }), event(1), event(2, { eventId: 'crash-1', category: 'Meltdown' }), event(2)] };
  expect(decodeErrorReports(bytes(batch))).toEqual({
    ok: true,
    value: { v: 1, events: [event(1), event(2)] },
    refused: [
      { index: 0, eventId: ids[0], error: '/description: Expected string length less or equal to 200' },
      { index: 2, eventId: null, error: "/eventId: Expected string to match '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'" },
    ],
  });
  // The published schema refuses the same batch whole.
  expect(decode('error-reports', bytes(batch))).toMatchObject({ ok: false, error: '/events/0/description: Expected string length less or equal to 200' });
});

test('an event whose every field is wrong is refused, not the batch', () => {
  expect(decodeErrorReports(bytes({ v: 1, events: [{}] }))).toEqual({ ok: true, value: { v: 1, events: [] }, refused: [{ index: 0, eventId: null, error: '/eventId: Expected required property' }] });
});

test.each([
  ['not JSON', '{"v":1', 'payload is not valid JSON'],
  ['an array', [event(0)], '/: Expected object'],
  ['a missing v', { events: [event(0)] }, '/v: Expected required property'],
  ['events missing', { v: 1 }, '/events: Expected required property'],
  ['events not an array', { v: 1, events: { 0: event(0) } }, '/events: Expected array'],
  ['no events', { v: 1, events: [] }, '/events: Expected array length to be greater or equal to 1'],
  ['too many events', { v: 1, events: Array.from({ length: MAX_ERROR_EVENTS_PER_BATCH + 1 }, () => event(0)) }, `/events: Expected array length to be less or equal to ${MAX_ERROR_EVENTS_PER_BATCH}`],
  ['an event that is a string', { v: 1, events: [event(0), 'crash'] }, '/events/1: Expected object'],
  ['an event that is null', { v: 1, events: [null] }, '/events/0: Expected object'],
  ['an event that is an array', { v: 1, events: [[]] }, '/events/0: Expected object'],
  ['an unknown batch field', { v: 1, events: [event(0)], note: 'x' }, '/note: Unexpected property'],
  ['a droppedTotal that is no integer', { v: 1, events: [event(0)], droppedTotal: 1.5 }, '/droppedTotal: Expected integer'],
])('a batch whose envelope breaks the schema is refused whole: %s', (_name, payload, error) => {
  expect(decodeErrorReports(bytes(payload))).toEqual({ ok: false, error });
  expect(decode('error-reports', bytes(payload))).toMatchObject({ ok: false });
});
