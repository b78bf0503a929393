/**
 * Node HTTP -> Apollo: turns a request into an HTTPGraphQLRequest and writes back what Apollo answers, as
 * @apollo/server's standalone server does, minus Express-style middleware (and CORS: browsers on other origins
 * are not served). Nothing GraphQL-specific happens here.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeaderMap, type ApolloServer, type HTTPGraphQLRequest } from '@apollo/server';
import type { GatewayContext } from '../context.js';
import { BodyTooLargeError, readBody } from './read-body.js';
import { sendJson, type HttpRoute, type RouteContext } from './routes.js';

/** 1,000 CSRs in one manufactureDevices call are about 0.5 MB of JSON; leave room, refuse the absurd. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export type ContextFactory = (req: IncomingMessage, route: RouteContext) => Promise<GatewayContext>;

const errorBody = (message: string, code: string): unknown => ({ errors: [{ message, extensions: { code } }] });

function headersOf(req: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

async function bodyOf(req: IncomingMessage, maxBytes: number): Promise<{ ok: true; body: unknown } | { ok: false; status: number; message: string }> {
  if (req.method !== 'POST') return { ok: true, body: undefined };
  let raw: Buffer;
  try {
    raw = await readBody(req, maxBytes);
  } catch (e) {
    if (e instanceof BodyTooLargeError) return { ok: false, status: 413, message: `Request body larger than ${maxBytes} bytes` };
    throw e;
  }
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type)) return { ok: true, body: raw.toString('utf8') }; // Apollo refuses it with 400
  try {
    return { ok: true, body: raw.length === 0 ? undefined : (JSON.parse(raw.toString('utf8')) as unknown) };
  } catch {
    return { ok: false, status: 400, message: 'Malformed JSON body' };
  }
}

export function graphqlRoute(apollo: ApolloServer<GatewayContext>, makeContext: ContextFactory, maxBodyBytes: number = DEFAULT_MAX_BODY_BYTES): HttpRoute {
  return {
    path: '/graphql',
    methods: ['GET', 'POST'],
    async handle(req: IncomingMessage, res: ServerResponse, route: RouteContext) {
      const body = await bodyOf(req, maxBodyBytes);
      if (!body.ok) {
        // The rest of an oversized body is never read: close the connection rather than let it be reused.
        return sendJson(res, body.status, errorBody(body.message, 'BAD_REQUEST'), body.status === 413 ? { connection: 'close' } : {});
      }
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const httpGraphQLRequest: HTTPGraphQLRequest = {
        method: (req.method ?? 'GET').toUpperCase(),
        headers: headersOf(req),
        search: q === -1 ? '' : url.slice(q),
        body: body.body,
      };
      const response = await apollo.executeHTTPGraphQLRequest({ httpGraphQLRequest, context: () => makeContext(req, route) });
      for (const [key, value] of response.headers) res.setHeader(key, value);
      res.statusCode = response.status ?? 200;
      if (response.body.kind === 'complete') {
        res.end(response.body.string);
        return;
      }
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    },
  };
}
