/**
 * A closed-loop HTTP load generator: `concurrency` clients, each sending its next request as soon as the previous
 * answer is read, over keep-alive connections, for a fixed time. node:http rather than fetch: on a 2-core machine
 * the generator competes with the server for CPU, and node:http costs the generator the least per request.
 */
import { Agent, request } from 'node:http';

export interface HttpLoadOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  readonly concurrency: number;
  readonly durationMs: number;
}

export interface HttpLoadResult {
  readonly requests: number;
  /** Not 200, or a GraphQL `errors` member in the answer. */
  readonly failed: number;
  readonly durationMs: number;
  readonly latenciesMs: readonly number[];
  readonly firstFailure: string | null;
}

/** One keep-alive pool per target, reused across its warm-up and measured phases. */
export const keepAliveAgent = (concurrency: number): Agent => new Agent({ keepAlive: true, maxSockets: concurrency, keepAliveMsecs: 30_000 });

export async function closedLoop(opts: HttpLoadOptions, agent: Agent): Promise<HttpLoadResult> {
  const url = new URL(opts.url);
  const body = Buffer.from(opts.body);
  const headers = { ...opts.headers, 'content-type': 'application/json', 'content-length': String(body.length) };
  const latenciesMs: number[] = [];
  let failed = 0;
  let firstFailure: string | null = null;
  const begin = performance.now();
  const deadline = begin + opts.durationMs;

  const once = (): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request({ agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  const client = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const started = performance.now();
      const outcome = await once().catch((e: unknown) => ({ status: 0, text: e instanceof Error ? e.message : String(e) }));
      if (outcome.status === 200 && !outcome.text.includes('"errors"')) latenciesMs.push(performance.now() - started);
      else {
        failed++;
        firstFailure ??= `${outcome.status}: ${outcome.text.slice(0, 200)}`;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, client));
  return { requests: latenciesMs.length, failed, durationMs: performance.now() - begin, latenciesMs, firstFailure };
}
