/** JSON over UTF-8, validated against the message's schema. Errors name the field and what arrived. */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Attestation, AttestationResult, Challenge, ChallengeRequest, ErrorReply, ErrorReports, StatusReport, TEXT_PATTERN, UpdateStatus, UpdateTarget } from './messages.js';
import type { DownMessage, UpMessage } from './topics.js';

/** Message names are unique across both directions, so one table serves both. */
const SCHEMAS = {
  status: StatusReport,
  'challenge-request': ChallengeRequest,
  attestation: Attestation,
  'error-reports': ErrorReports,
  'update-status': UpdateStatus,
  update: UpdateTarget,
  error: ErrorReply,
  challenge: Challenge,
  'attestation-result': AttestationResult,
} as const satisfies Record<UpMessage | DownMessage, TSchema>;
type Schemas = typeof SCHEMAS;

export type Payload<M extends keyof Schemas> = Static<Schemas[M]>;

const checkers = new Map<string, TypeCheck<TSchema>>();
function checker(message: keyof Schemas): TypeCheck<TSchema> {
  let c = checkers.get(message);
  if (!c) {
    c = TypeCompiler.Compile(SCHEMAS[message]);
    checkers.set(message, c);
  }
  return c;
}

export type Decoded<M extends keyof Schemas> = { ok: true; value: Payload<M> } | { ok: false; error: string };

export function decode<M extends keyof Schemas>(message: M, payload: Uint8Array): Decoded<M> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return { ok: false, error: 'payload is not valid JSON' };
  }
  const c = checker(message);
  if (c.Check(json)) return { ok: true, value: json as Payload<M> };
  const first = c.Errors(json).First();
  return { ok: false, error: first ? `${first.path || '/'}: ${explain(first)}` : 'payload does not match the schema' };
}

/** TypeBox's message, but the text rule in words: its pattern would tell a device maker little. */
const explain = (e: ValueError): string =>
  e.type === ValueErrorType.StringPattern && e.schema.pattern === TEXT_PATTERN ? 'must not contain NUL characters' : e.message;

export function encode<M extends keyof Schemas>(_message: M, value: Payload<M>): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export const schemaOf = <M extends keyof Schemas>(message: M): Schemas[M] => SCHEMAS[message];
