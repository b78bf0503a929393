/**
 * The one place GraphQL errors become public. Domain refusals keep their catalogue code (domain/shared/errors.ts,
 * mirrored by `enum ErrorCode` in schema/common.graphql) in `extensions.code`. GraphQL's own request errors keep
 * their standard codes: GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED (also our depth and cost limits),
 * BAD_USER_INPUT (variables that do not coerce), BAD_REQUEST, OPERATION_RESOLUTION_FAILURE. Anything else (a bug,
 * a database outage) becomes INTERNAL_SERVER_ERROR with a generic message, no stack and no detail; it is logged
 * with the request id by whoever sees it first (see isInternalError).
 */
import { HeaderMap } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDomainError, type DomainError } from '../domain/shared/errors.js';

export const INTERNAL_MESSAGE = 'Internal server error';

/** Codes a request-level (non-field) error may carry through unchanged. */
const REQUEST_ERROR_CODES: ReadonlySet<string> = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
]);

/** The innermost cause: graphql and Apollo wrap what a resolver threw (possibly more than once). */
export function rootCause(error: unknown): unknown {
  let current = error;
  for (let i = 0; i < 10 && current instanceof GraphQLError && current.originalError; i++) current = current.originalError;
  return current;
}

const codeOf = (error: GraphQLError): unknown => error.extensions['code'];

/** True when the public answer must be the generic INTERNAL_SERVER_ERROR (and the cause should be logged). */
export function isInternalError(error: unknown): boolean {
  const cause = rootCause(error);
  if (isDomainError(cause)) return cause.code === 'INTERNAL_SERVER_ERROR';
  if (cause instanceof GraphQLError) {
    // Ours (limits, authentication) or graphql's, wrapped by Apollo with a standard code. No code at all: a
    // GraphQLError thrown where nobody meant to answer the client (e.g. a scalar that cannot serialise).
    const code = codeOf(cause) ?? (error instanceof GraphQLError ? codeOf(error) : undefined);
    return typeof code !== 'string' || code === 'INTERNAL_SERVER_ERROR';
  }
  // A plain Error under a field path is a resolver or domain bug. Without a path it was raised by graphql itself
  // about the request (e.g. a variable that does not coerce, wrapping a scalar's TypeError), and Apollo has
  // already given it a standard code.
  if (!(error instanceof GraphQLError) || error.path !== undefined) return true;
  const code = codeOf(error);
  return typeof code !== 'string' || !REQUEST_ERROR_CODES.has(code);
}

function fromDomainError(formatted: GraphQLFormattedError, cause: DomainError): GraphQLFormattedError {
  return {
    message: cause.message,
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: cause.code, ...(cause.details ? { details: cause.details } : {}) },
  };
}

function masked(formatted: GraphQLFormattedError): GraphQLFormattedError {
  return {
    message: INTERNAL_MESSAGE,
    ...(formatted.locations ? { locations: formatted.locations } : {}),
    ...(formatted.path ? { path: formatted.path } : {}),
    extensions: { code: 'INTERNAL_SERVER_ERROR' },
  };
}

/**
 * Apollo's `formatError` (and the graphql-ws hooks call it too). `formatted` is what would be sent, `error` what
 * was thrown. Never throws.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  try {
    const cause = rootCause(error);
    if (isDomainError(cause) && cause.code !== 'INTERNAL_SERVER_ERROR') return fromDomainError(formatted, cause);
    if (isInternalError(error)) return masked(formatted);
    const code = formatted.extensions?.['code'];
    // Keep only the code: other extensions may carry internals (e.g. Apollo's validationErrorCode is harmless,
    // but nothing we did not put there on purpose goes out).
    return {
      message: formatted.message,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: { code: typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR' },
    };
  } catch {
    return { message: INTERNAL_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  }
}

/** graphql-ws has no Apollo in front of it: give a raw GraphQLError the code Apollo would have, then format. */
export function formatGraphQLError(error: GraphQLError, defaultCode = 'INTERNAL_SERVER_ERROR'): GraphQLFormattedError {
  const json = error.toJSON();
  const code = json.extensions?.['code'];
  return formatError({ ...json, extensions: { ...json.extensions, code: typeof code === 'string' ? code : defaultCode } }, error);
}

/** A request-level refusal we raise ourselves (authentication, limits), with the HTTP status Apollo should use. */
export function requestError(code: 'UNAUTHENTICATED' | 'INTERNAL_SERVER_ERROR' | 'BAD_REQUEST', message: string, httpStatus: number): GraphQLError {
  // RFC 6750: a 401 names the scheme the client should use.
  const headers = new HeaderMap(httpStatus === 401 ? [['www-authenticate', 'Bearer']] : []);
  return new GraphQLError(message, { extensions: { code, http: { status: httpStatus, headers } } });
}

/** What to log about an internal error: enough to debug, never the request's variables or headers. */
export function describeForLog(error: unknown): { name: string; message: string; stack?: string } {
  const cause = rootCause(error);
  if (cause instanceof Error) return { name: cause.name, message: cause.message, ...(cause.stack ? { stack: cause.stack } : {}) };
  return { name: typeof cause, message: String(cause) };
}

/** Gives a request-level error from graphql (no field path, no code) the standard code Apollo would give it. */
export function withCode(error: GraphQLError, code: string): GraphQLError {
  if (typeof codeOf(error) === 'string') return error;
  return new GraphQLError(error.message, {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    ...(error.path ? { path: error.path } : {}),
    ...(error.originalError ? { originalError: error.originalError } : {}),
    extensions: { ...error.extensions, code },
  });
}
