/**
 * No string of any message holds a NUL (U+0000): neither database the service runs on stores one in text, so a
 * message carrying one must be refused by its schema (BAD_PAYLOAD naming the field), not fail when it is stored.
 * An error event is checked on its own (decodeErrorReports), so a NUL in one costs only that event.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TSchema } from '@sinclair/typebox';
import { decode, decodeErrorReports, schemaOf } from './codec.js';
import { AttestationStatement, TEXT_PATTERN } from './messages.js';
import { DOWN_MESSAGES, UP_MESSAGES, type DownMessage, type UpMessage } from './topics.js';

const MESSAGES: ReadonlyArray<UpMessage | DownMessage> = [...UP_MESSAGES, ...DOWN_MESSAGES];
const NUL = '\u0000';

/** Every string schema under `schema` but literals, by a JSON-Pointer-like path. */
function strings(schema: TSchema, path = ''): Array<[string, TSchema]> {
  if (schema.type === 'string') return schema.const === undefined ? [[path || '/', schema]] : [];
  const children: Array<[string, TSchema]> = [
    ...Object.entries((schema.properties ?? {}) as Record<string, TSchema>).map(([k, s]): [string, TSchema] => [`${path}/${k}`, s]),
    ...(schema.items ? [[`${path}/*`, schema.items as TSchema] as [string, TSchema]] : []),
    ...((schema.anyOf ?? []) as TSchema[]).map((s, i): [string, TSchema] => [`${path}(${i})`, s]),
  ];
  return children.flatMap(([p, s]) => strings(s, p));
}

/**
 * True when no string holding a NUL can match: anchored at both ends, every character class excludes NUL, and no
 * other atom can match one (`.`, `\S`, `\W`, `\D`, or a NUL escape).
 */
function refusesNul(pattern: string): boolean {
  const classes = [...pattern.matchAll(/\[((?:\\.|[^\]\\])*)\]/g)].map((m) => m[1] ?? '');
  const outside = pattern.replace(/\[(?:\\.|[^\]\\])*\]/g, '').replace(/\\[^SWDxu0]/g, '');
  return (
    pattern.startsWith('^') &&
    pattern.endsWith('$') &&
    classes.every((c) => !new RegExp(`[${c}]`).test(NUL)) &&
    !/[.]|\\[SWDxu0]/.test(outside)
  );
}

describe('the text rule', () => {
  test('the check itself tells open patterns from closed ones', () => {
    expect(['^[^\\x00]*$', '^[0-9a-f]{64}$', '^https://[^\\x00]*$', '^[0-9]{2}(\\.[0-9]{1,6})?Z$'].map(refusesNul)).toEqual([true, true, true, true]);
    expect(['-----BEGIN', '^https://', '^.*$', '^[^a]*$', '^\\S+$', '^[\\x00-\\x1f]$'].map(refusesNul)).toEqual([false, false, false, false, false, false]);
  });

  test.each([...MESSAGES])('every string of %s has a pattern no string holding a NUL matches', (message) => {
    const open = strings(schemaOf(message)).filter(([, s]) => typeof s.pattern !== 'string' || !refusesNul(s.pattern));
    expect(open.map(([path]) => path)).toEqual([]);
  });

  test('so does every string of the attestation statement a device signs', () => {
    expect(strings(AttestationStatement).filter(([, s]) => typeof s.pattern !== 'string' || !refusesNul(s.pattern))).toEqual([]);
  });

  test('and no other character is refused by it: tabs, newlines, escapes and any Unicode are text', () => {
    expect(new RegExp(TEXT_PATTERN).test('tab\tnewline\ncr\r esc\u001b del\u007f é 漢字 🙂')).toBe(true);
  });
});

describe('a device message with a NUL', () => {
  const doc = readFileSync(join(dirname(fileURLToPath(import.meta.url)), 'PROTOCOL.md'), 'utf8');
  const examples = new Map([...doc.matchAll(/<!-- example: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)].map((m) => [m[1] ?? '', JSON.parse(m[2] ?? '') as unknown]));

  /** Every string value of `value`: where it is, what it holds, and a copy of `value` with other text there. */
  function stringLeaves(value: unknown, path = ''): Array<{ path: string; text: string; with: (text: string) => unknown }> {
    if (typeof value === 'string') return [{ path: path || '/', text: value, with: (text) => text }];
    if (value === null || typeof value !== 'object') return [];
    return Object.entries(value).flatMap(([k, v]) =>
      stringLeaves(v, `${path}/${k}`).map((leaf) => ({
        ...leaf,
        with: (text: string) => (Array.isArray(value) ? value.map((x, i) => (String(i) === k ? leaf.with(text) : x)) : { ...value, [k]: leaf.with(text) }),
      })),
    );
  }

  test.each([...MESSAGES])('the PROTOCOL.md example of %s is refused whichever of its strings holds one', (message) => {
    const leaves = stringLeaves(examples.get(message));
    expect(leaves.length).toBeGreaterThan(0);
    for (const leaf of leaves) {
      expect(decode(message, Buffer.from(JSON.stringify(leaf.with(leaf.text))))).toMatchObject({ ok: true });
      for (const spoiled of [`${NUL}${leaf.text}`, `${leaf.text.slice(0, 1)}${NUL}${leaf.text.slice(1)}`, `${leaf.text}${NUL}`]) {
        expect({ path: leaf.path, spoiled, result: decode(message, Buffer.from(JSON.stringify(leaf.with(spoiled)))) }).toMatchObject({ result: { ok: false } });
      }
    }
  });

  test.each([
    ['status', { v: 1, osVersion: `24.10${NUL}`, uptimeSeconds: 1, installedImages: [] }, '/osVersion'],
    ['status', { v: 1, osVersion: '24.10', uptimeSeconds: 1, installedImages: [{ ...image(), name: `a${NUL}` }] }, '/installedImages/0/name'],
    ['status', { v: 1, osVersion: '24.10', uptimeSeconds: 1, installedImages: [{ ...image(), version: `${NUL}1` }] }, '/installedImages/0/version'],
    ['update-status', { v: 1, deploymentId: null, imageId: image().imageId, state: 'failed', reason: `disk${NUL}full` }, '/reason'],
  ] as const)('%s: BAD_PAYLOAD says which field', (message, payload, field) => {
    expect(decode(message, Buffer.from(JSON.stringify(payload)))).toEqual({ ok: false, error: `${field}: must not contain NUL characters` });
  });

  test('an error event whose description holds one is refused alone: the batch keeps its other events', () => {
    const good = event();
    const bad = { ...event(), description: `crash${NUL}` };
    expect(decodeErrorReports(Buffer.from(JSON.stringify({ v: 1, events: [good, bad] })))).toEqual({
      ok: true,
      value: { v: 1, events: [good] },
      refused: [{ index: 1, eventId: bad.eventId, error: '/description: must not contain NUL characters' }],
    });
  });

  test('the same messages with tabs and newlines instead are accepted', () => {
    expect(decode('status', Buffer.from(JSON.stringify({ v: 1, osVersion: '24.10\n', uptimeSeconds: 1, installedImages: [{ ...image(), name: 'a\tb' }] })))).toMatchObject({ ok: true });
    expect(decode('error-reports', Buffer.from(JSON.stringify({ v: 1, events: [{ ...event(), description: 'line 1\r\nline 2' }] })))).toMatchObject({ ok: true });
  });
});

function image() {
  return { componentId: '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9', imageId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' };
}

function event() {
  return { eventId: '6c1e0f0a-5b2d-4e8f-9a71-3c4d5e6f7a8b', category: 'OSCrash', count: 1, startTime: '2026-12-02T10:15:00.000Z', endTime: '2026-12-02T10:15:00.000Z' };
}
