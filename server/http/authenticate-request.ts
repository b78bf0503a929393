/**
 * Apollo's context function for HTTP: reads the bearer token, asks the domain who it is. A bad, malformed or
 * revoked key fails the whole request with UNAUTHENTICATED (HTTP 401); no key gives an anonymous context that
 * may only ask `health` (anonymous-access.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { GraphQLError } from 'graphql';
import { authenticate, credentialFromAuthorizationHeader } from '../auth.js';
import type { GatewayContext } from '../context.js';
import { describeForLog, INTERNAL_MESSAGE, requestError } from '../errors.js';
import { httpContext, type ContextDeps } from '../request-context.js';
import type { RouteContext } from './routes.js';

export const INVALID_KEY = 'Invalid or revoked API key';

export function httpContextFactory(deps: ContextDeps): (req: IncomingMessage, route: RouteContext) => Promise<GatewayContext> {
  return async (req, { requestId, log }) => {
    let outcome;
    try {
      outcome = await authenticate(deps.services.tenancy, credentialFromAuthorizationHeader(req.headers.authorization));
    } catch (e) {
      log.error({ err: describeForLog(e) }, 'authentication failed');
      throw requestError('INTERNAL_SERVER_ERROR', INTERNAL_MESSAGE, 500) satisfies GraphQLError;
    }
    if (outcome.status === 'refused') throw requestError('UNAUTHENTICATED', INVALID_KEY, 401);
    return httpContext(deps, outcome.status === 'authenticated' ? outcome.actor : null, requestId, log);
  };
}
