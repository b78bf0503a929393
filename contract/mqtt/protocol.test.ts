/**
 * PROTOCOL.md is the contract device makers read; this test keeps it in step with the code: every topic and error
 * code is documented and nothing documented is missing from the code, the limits match, every JSON example is a
 * valid message, and the committed JSON Schemas are what the TypeBox declarations produce.
 *
 * After changing a message schema, regenerate the schema files with:
 *   UPDATE_SCHEMAS=1 npm test -- contract/mqtt/protocol.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decode, schemaOf } from './codec.js';
import * as limits from './messages.js';
import { DEVICE_ERROR_CODES } from './messages.js';
import { DOWN_MESSAGES, UP_MESSAGES, type DownMessage, type UpMessage } from './topics.js';

const here = dirname(fileURLToPath(import.meta.url));
const doc = readFileSync(join(here, 'PROTOCOL.md'), 'utf8');
const MESSAGES: ReadonlyArray<UpMessage | DownMessage> = [...UP_MESSAGES, ...DOWN_MESSAGES];

/**
 * The text under a heading, up to the next heading of the same or a higher level (with `nested: false`, up to the
 * next heading of any level).
 */
function section(heading: string, { nested = true } = {}): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((l) => l.replace(/^#+ /, '') === heading && /^#+ /.test(l));
  if (start < 0) throw new Error(`PROTOCOL.md has no heading "${heading}"`);
  const level = (lines[start] ?? '').indexOf(' ');
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && (!nested || l.indexOf(' ') <= level));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

const firstColumn = (table: string): string[] =>
  [...table.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1] ?? '');

function jsonSchemaFile(message: UpMessage | DownMessage): string {
  // TypeBox schemas are JSON Schema; JSON.stringify drops TypeBox's symbol-keyed metadata.
  const schema = { $schema: 'https://json-schema.org/draft/2020-12/schema', title: `${message} v1`, ...schemaOf(message) };
  return `${JSON.stringify(schema, null, 2)}\n`;
}

describe('PROTOCOL.md', () => {
  test('documents exactly the topics of topics.ts, each with its own section', () => {
    const documented = firstColumn(section('Topics', { nested: false }));
    const expected = [...UP_MESSAGES.map((m) => `devices/{deviceId}/up/${m}`), ...DOWN_MESSAGES.map((m) => `devices/{deviceId}/down/${m}`)];
    expect(documented.sort()).toEqual(expected.sort());
    for (const topic of expected) expect(section(`\`${topic}\``)).toContain('**Direction:**');
  });

  test('never mentions a topic the code does not know', () => {
    const mentioned = new Set([...doc.matchAll(/devices\/\{deviceId\}\/(up|down)\/([a-z][a-z0-9-]*)/g)].map((m) => `${m[1]}/${m[2]}`));
    const known = new Set([...UP_MESSAGES.map((m) => `up/${m}`), ...DOWN_MESSAGES.map((m) => `down/${m}`)]);
    expect([...mentioned].filter((t) => !known.has(t))).toEqual([]);
  });

  test('documents exactly the device error codes of messages.ts', () => {
    expect(firstColumn(section('Error codes')).sort()).toEqual([...DEVICE_ERROR_CODES].sort());
  });

  test('states the limits messages.ts defines', () => {
    const rows = [...section('Limits').matchAll(/^\| `([A-Z_]+)` \| ([0-9]+) \|/gm)].map((m) => [m[1], Number(m[2])]);
    const defined = Object.entries(limits).filter(([name, value]) => /^[A-Z_]+$/.test(name) && typeof value === 'number');
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(defined));
  });

  test('every JSON example is a valid message, and every message has one', () => {
    const examples = [...doc.matchAll(/<!-- example: ([a-z-]+) -->\n```json\n([\s\S]*?)\n```/g)];
    expect(examples.map((m) => m[1]).sort()).toEqual([...MESSAGES].sort());
    for (const [, message, body] of examples) {
      expect({ message, result: decode(message as UpMessage | DownMessage, Buffer.from(body ?? '', 'utf8')) }).toMatchObject({
        result: { ok: true },
      });
    }
  });
});

describe('JSON Schemas', () => {
  test.each(MESSAGES)('schemas/%s.v1.schema.json is generated from messages.ts', (message) => {
    const path = join(here, 'schemas', `${message}.v1.schema.json`);
    const generated = jsonSchemaFile(message);
    if (process.env.UPDATE_SCHEMAS === '1') writeFileSync(path, generated);
    expect(readFileSync(path, 'utf8')).toBe(generated);
  });
});
