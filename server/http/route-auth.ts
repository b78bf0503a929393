/**
 * What plain HTTP routes (CSV download, image upload) share with GraphQL: the same bearer key, the same domain
 * lookup, and domain refusals answered with one status table, so no route maps them its own way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TenancyService } from '../../domain/services.js';
import type { Actor } from '../../domain/shared/actor.js';
import { isDomainError, type ErrorCode } from '../../domain/shared/errors.js';
import { authenticate, credentialFromAuthorizationHeader } from '../auth.js';
import { INVALID_KEY } from './authenticate-request.js';
import { sendJson } from './routes.js';

const REFUSAL_STATUS: Partial<Record<ErrorCode, number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404, BAD_USER_INPUT: 400, CONFLICT: 409 };

/** The caller's actor; or null once a 401 is sent (no key, or a bad or revoked one). */
export async function actorOrUnauthorized(tenancy: TenancyService, req: IncomingMessage, res: ServerResponse): Promise<Actor | null> {
  const auth = await authenticate(tenancy, credentialFromAuthorizationHeader(req.headers.authorization));
  if (auth.status === 'authenticated') return auth.actor;
  sendJson(res, 401, { error: auth.status === 'refused' ? INVALID_KEY : 'An API key is required', code: 'UNAUTHENTICATED' });
  return null;
}

/** Answers a domain refusal (true); anything else is not answered here (false: the router makes it a 500). */
export function sendRefusal(res: ServerResponse, error: unknown): boolean {
  const status = isDomainError(error) ? REFUSAL_STATUS[error.code] : undefined;
  if (!isDomainError(error) || status === undefined) return false;
  sendJson(res, status, { error: error.message, code: error.code });
  return true;
}
