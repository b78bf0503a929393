/**
 * The gateway's HTTP surface as a small route table: GraphQL and /healthz today; later features (CRL download,
 * image upload) add a route here or through `startGateway({ routes })` without touching the server.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BoundLogger, type Logger } from '../../domain/shared/logger.js';

export interface RouteContext {
  /** Also sent back as the `x-request-id` response header, so a caller can quote it. */
  readonly requestId: string;
  /** Bound to requestId. */
  readonly log: Logger;
  /** Named groups of the route's pattern (empty for exact paths). */
  readonly params: Readonly<Record<string, string>>;
}

export interface HttpRoute {
  /**
   * Exact path, e.g. `/healthz` (the query string is not part of it), or a pattern anchored at both ends whose
   * named groups become ctx.params, e.g. /^\/tenants\/(?<tenantId>[^/]+)\/crl$/.
   */
  readonly path: string | RegExp;
  /** Upper-case methods this route answers; others get 405 with an Allow header. */
  readonly methods: readonly string[];
  handle(req: IncomingMessage, res: ServerResponse, ctx: RouteContext): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export const healthRoute: HttpRoute = {
  path: '/healthz',
  methods: ['GET', 'HEAD'],
  async handle(_req, res) {
    sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-store' });
  },
};

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

/** A node `request` listener over the table. A route that throws answers 500 without detail (and is logged). */
export function createRouter(routes: readonly HttpRoute[], log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const byPath = new Map<string, HttpRoute>();
  const patterns: Array<HttpRoute & { readonly path: RegExp }> = [];
  for (const route of routes) {
    const { path } = route;
    if (path instanceof RegExp) {
      patterns.push({ ...route, path });
      continue;
    }
    if (byPath.has(path)) throw new Error(`two HTTP routes for ${path}`);
    byPath.set(path, route);
  }
  const match = (path: string): { route: HttpRoute; params: Record<string, string> } | null => {
    const exact = byPath.get(path);
    if (exact) return { route: exact, params: {} };
    for (const route of patterns) {
      const m = route.path.exec(path);
      if (m) return { route, params: { ...m.groups } };
    }
    return null;
  };
  return (req, res) => {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    const found = match(pathOf(req.url));
    if (!found) return sendJson(res, 404, { error: 'Not found' });
    const { route, params } = found;
    const method = (req.method ?? 'GET').toUpperCase();
    if (!route.methods.includes(method)) return sendJson(res, 405, { error: 'Method not allowed' }, { allow: route.methods.join(', ') });
    const ctx: RouteContext = { requestId, log: new BoundLogger(log, { requestId }), params };
    route.handle(req, res, ctx).catch((e: unknown) => {
      ctx.log.error({ err: e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : String(e), path: String(route.path) }, 'HTTP route failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'Internal server error' });
      else res.destroy();
    });
  };
}
