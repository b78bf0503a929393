/**
 * graphql-ws runs a subscription's selection set once per subscriber and event. Subscribers of the same event with
 * the same operation (document, variables, operation name) and the same actor would all get the same result, so
 * it is computed once per event and shared: one execution (and at most one domain read per resolver) per event
 * instead of one per subscriber. Everything else stays per subscriber: its filter, its key re-check before each
 * delivery (BusStream), its error formatting and its message.
 *
 * Sharing needs the event's root value to be one object for all subscribers (see sharedRootValue); a root value
 * made per subscriber simply executes per subscriber, as before.
 */
import { createSourceEventStream, execute, print, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { GatewayContext } from '../context.js';

type SourceStream = AsyncIterable<unknown>;

const isSourceStream = (value: unknown): value is SourceStream => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

/** What makes two subscribers' executions interchangeable: the operation and who asks (never only the tenant). */
function operationKey(args: ExecutionArgs, printed: string): string {
  const context = args.contextValue as Partial<GatewayContext> | undefined;
  return JSON.stringify([printed, args.operationName ?? null, args.variableValues ?? null, context?.actor ?? null]);
}

/** graphql-ws's `subscribe` option: graphql's own subscribe, with executions shared per event (see above). */
export function sharedSubscriptionExecution(): (args: ExecutionArgs) => Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
  const results = new WeakMap<object, Map<string, PromiseOrValue<ExecutionResult>>>();
  const printed = new WeakMap<DocumentNode, string>();
  return async (args) => {
    const source = await createSourceEventStream(args);
    if (!isSourceStream(source)) return source;
    let text = printed.get(args.document);
    if (text === undefined) {
      text = print(args.document);
      printed.set(args.document, text);
    }
    const key = operationKey(args, text);
    const run = (rootValue: unknown): PromiseOrValue<ExecutionResult> => execute({ ...args, rootValue });
    return mapStream(source, (rootValue) => {
      if (typeof rootValue !== 'object' || rootValue === null) return run(rootValue);
      let byOperation = results.get(rootValue);
      if (!byOperation) results.set(rootValue, (byOperation = new Map()));
      let result = byOperation.get(key);
      if (result === undefined) {
        result = run(rootValue);
        byOperation.set(key, result);
        // Once settled, later subscribers take the result as it is, without waiting a turn for the promise.
        if (isPromise(result)) void result.then((r) => byOperation.set(key, r), () => undefined);
      }
      return result;
    });
  };
}

type PromiseOrValue<T> = T | Promise<T>;
const isPromise = <T>(value: PromiseOrValue<T>): value is Promise<T> => typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * Like graphql's mapAsyncIterator: return() and throw() reach the source, so its bus handler is released. Promise
 * chains rather than async/await, and a value mapped at once is not wrapped in another promise: this runs for
 * every delivery of a fan-out.
 */
function mapStream<T>(source: SourceStream, map: (value: unknown) => PromiseOrValue<T>): AsyncIterableIterator<T, undefined> {
  const it = source[Symbol.asyncIterator]();
  const close = async (): Promise<void> => {
    await it.return?.();
  };
  const fail = (e: unknown): Promise<never> =>
    close().then(() => {
      throw e;
    });
  const yielded = (value: T): IteratorResult<T, undefined> => ({ done: false, value });
  return {
    next(): Promise<IteratorResult<T, undefined>> {
      return it.next().then((r): PromiseOrValue<IteratorResult<T, undefined>> => {
        if (r.done) return { done: true, value: undefined };
        let mapped: PromiseOrValue<T>;
        try {
          mapped = map(r.value);
        } catch (e) {
          return fail(e);
        }
        return isPromise(mapped) ? mapped.then(yielded, fail) : yielded(mapped);
      });
    },
    async return(): Promise<IteratorResult<T, undefined>> {
      await close();
      return { done: true, value: undefined };
    },
    async throw(error: unknown): Promise<IteratorResult<T, undefined>> {
      await close();
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
