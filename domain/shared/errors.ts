/**
 * The catalogue of every refusal the domain can make. Codes are public and stable: the GraphQL edge maps them to
 * `extensions.code` (schema/errors.graphql `enum ErrorCode`), the MQTT edge to the reply topic (contract/mqtt).
 * Nothing transport-specific (HTTP status, MQTT reason codes) belongs here.
 */
export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  'INTERNAL_SERVER_ERROR',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Safe-to-show detail, e.g. the offending field. Never secrets, never another tenant's data. */
    readonly details?: Readonly<Record<string, string | number | boolean>>,
  ) {
    super(message);
  }
}

export const unauthenticated = (message = 'Authentication required'): DomainError =>
  new DomainError('UNAUTHENTICATED', message);
export const forbidden = (message = 'Not allowed for this role'): DomainError => new DomainError('FORBIDDEN', message);
/** The only answer for a resource of another tenant: it does not exist for the caller. */
export const notFound = (kind: string, id: string): DomainError =>
  new DomainError('NOT_FOUND', `${kind} not found`, { kind, id });
export const badInput = (field: string, message: string): DomainError =>
  new DomainError('BAD_USER_INPUT', `${field}: ${message}`, { field });
export const conflict = (message: string, details?: Record<string, string>): DomainError =>
  new DomainError('CONFLICT', message, details);

export const isDomainError = (e: unknown): e is DomainError => e instanceof DomainError;
