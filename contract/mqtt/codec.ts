/** JSON over UTF-8, validated against the message's schema. Errors name the field and what arrived. */
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Attestation, AttestationResult, Challenge, ChallengeRequest, ErrorEvent, ErrorReply, ErrorReports, ErrorReportsEnvelope, StatusReport, TEXT_PATTERN, UpdateStatus, UpdateTarget } from './messages.js';
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

const checkers = new WeakMap<TSchema, TypeCheck<TSchema>>();
function checker(schema: TSchema): TypeCheck<TSchema> {
  let c = checkers.get(schema);
  if (!c) {
    c = TypeCompiler.Compile(schema);
    checkers.set(schema, c);
  }
  return c;
}

export type Decoded<M extends keyof Schemas> = { ok: true; value: Payload<M> } | { ok: false; error: string };

export function decode<M extends keyof Schemas>(message: M, payload: Uint8Array): Decoded<M> {
  const json = parse(payload);
  if (json === NOT_JSON) return { ok: false, error: 'payload is not valid JSON' };
  const c = checker(SCHEMAS[message]);
  return c.Check(json) ? { ok: true, value: json as Payload<M> } : { ok: false, error: firstError(c, json) };
}

/** An event of an error-reports batch that breaks ErrorEvent: its place, its eventId if that is well-formed, and why. */
export interface RefusedEvent {
  readonly index: number;
  readonly eventId: string | null;
  /** The field and what is wrong with it, e.g. `/description: Expected string length less or equal to 200`. */
  readonly error: string;
}

export type DecodedErrorReports = { ok: true; value: ErrorReports; refused: RefusedEvent[] } | { ok: false; error: string };

/**
 * An error-reports batch, its envelope checked whole and each event on its own: `value` keeps the events that
 * match ErrorEvent (in batch order), `refused` says why the others do not, so one bad event never costs the batch
 * the rest. The batch is refused whole only when its envelope breaks ErrorReportsEnvelope.
 */
export function decodeErrorReports(payload: Uint8Array): DecodedErrorReports {
  const json = parse(payload);
  if (json === NOT_JSON) return { ok: false, error: 'payload is not valid JSON' };
  const envelope = checker(ErrorReportsEnvelope);
  if (!envelope.Check(json)) return { ok: false, error: firstError(envelope, json) };
  const batch = json as Static<typeof ErrorReportsEnvelope>;
  const event = checker(ErrorEvent);
  const events: ErrorEvent[] = [];
  const refused: RefusedEvent[] = [];
  batch.events.forEach((e, index) => {
    if (event.Check(e)) events.push(e as ErrorEvent);
    else refused.push({ index, eventId: wellFormedEventId(e), error: firstError(event, e) });
  });
  return { ok: true, value: { ...batch, events }, refused };
}

const wellFormedEventId = (e: object): string | null => {
  const id: unknown = Reflect.get(e, 'eventId');
  return checker(ErrorEvent.properties.eventId).Check(id) ? (id as string) : null;
};

const NOT_JSON = Symbol('not JSON');
function parse(payload: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

function firstError(c: TypeCheck<TSchema>, value: unknown): string {
  const first = c.Errors(value).First();
  return first ? `${first.path || '/'}: ${explain(first)}` : 'payload does not match the schema';
}

/** TypeBox's message, but the text rule in words: its pattern would tell a device maker little. */
const explain = (e: ValueError): string =>
  e.type === ValueErrorType.StringPattern && e.schema.pattern === TEXT_PATTERN ? 'must not contain NUL characters' : e.message;

export function encode<M extends keyof Schemas>(_message: M, value: Payload<M>): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export const schemaOf = <M extends keyof Schemas>(message: M): Schemas[M] => SCHEMAS[message];
