/**
 * Per-operation memo of domain reads. Field resolvers such as Device.product ask for the same product once per
 * device; the cache turns that into one domain call per distinct id. It lives for one HTTP operation only, so it
 * can never serve another caller's data or a stale answer to a later request.
 */
export interface RequestCache {
  memo<T>(key: string, load: () => Promise<T>): Promise<T>;
}

export function createRequestCache(): RequestCache {
  // Made on first use: most operations (a devices page without products) never memoise anything.
  let entries: Map<string, Promise<unknown>> | null = null;
  return {
    memo<T>(key: string, load: () => Promise<T>): Promise<T> {
      entries ??= new Map();
      const hit = entries.get(key);
      if (hit) return hit as Promise<T>;
      const loading = load();
      entries.set(key, loading);
      return loading;
    },
  };
}

/** For long-lived subscription contexts: every event must see the current state, so nothing is kept. */
export const noRequestCache: RequestCache = { memo: (_key, load) => load() };
