/**
 * Small GraphQL clients for server tests: one HTTP request, one raw graphql-transport-ws handshake, and a
 * graphql-ws subscription that collects what arrives. Used by server tests only.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Gateway } from '../gateway.js';

export interface GqlResponse<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: { code?: string; [k: string]: unknown } }>;
}

export async function gql<T = Record<string, unknown>>(gateway: Gateway, key: string | null, query: string, variables: Record<string, unknown> = {}): Promise<GqlResponse<T>> {
  const res = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key !== null ? { authorization: `Bearer ${key}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as Omit<GqlResponse<T>, 'status' | 'headers'>;
  return { status: res.status, headers: res.headers, ...body };
}

export async function ok<T = Record<string, unknown>>(gateway: Gateway, key: string | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await gql<T>(gateway, key, query, variables);
  if (r.errors?.length || !r.data) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors)}`);
  return r.data;
}

export const codes = (r: GqlResponse<unknown>): string[] => (r.errors ?? []).map((e) => e.extensions?.code ?? '?');

/** Opens a raw graphql-transport-ws socket, sends connection_init, and reports how the server answered. */
export function connectionOutcome(gateway: Gateway, payload: Record<string, unknown> | undefined): Promise<{ acked: boolean; closeCode: number }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    let acked = false;
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', ...(payload ? { payload } : {}) })));
    socket.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'connection_ack') {
        acked = true;
        socket.close(1000);
      }
    });
    socket.on('close', (closeCode) => resolve({ acked, closeCode }));
    socket.on('error', reject);
  });
}

export interface Subscription<T> {
  readonly items: T[];
  readonly errors: unknown[];
  readonly completed: () => boolean;
  readonly closeCodes: number[];
  waitFor(pred: () => boolean, what: string): Promise<void>;
  close(): Promise<void>;
}

export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A graphql-ws subscription that resolves once the server has acknowledged the connection and registered it. */
export async function subscribe<T>(gateway: Gateway, connectionParams: Record<string, unknown>, query: string, variables: Record<string, unknown> = {}): Promise<Subscription<T>> {
  const closeCodes: number[] = [];
  const client: Client = createClient({
    url: `${gateway.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: false,
    onNonLazyError: () => undefined, // close codes are collected below; the default prints them
    on: { closed: (e) => void closeCodes.push((e as { code: number }).code) },
  });
  const items: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const connected = new Promise<void>((resolve) => client.on('connected', () => resolve()));
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(...v.errors);
        if (v.data) items.push(v.data as T);
      },
      error: (e) => void errors.push(e),
      complete: () => {
        completed = true;
      },
    },
  );
  await connected;
  // The subscribe message is sent right after the ack; give the server a moment to register the bus handler.
  await new Promise((r) => setTimeout(r, 50));
  return {
    items,
    errors,
    closeCodes,
    completed: () => completed,
    waitFor: (pred, what) => until(() => pred() || errors.length > 0, what).then(() => {
      if (!pred()) throw new Error(`subscription failed while waiting for ${what}: ${JSON.stringify(errors)}`);
    }),
    async close() {
      stop();
      await client.dispose();
    },
  };
}
