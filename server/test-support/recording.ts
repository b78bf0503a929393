/** Test doubles that record what the gateway does with its real dependencies. Used by server tests only. */
import type { EventBus } from '../../domain/events/event-bus.js';
import type { Logger } from '../../domain/shared/logger.js';

export type LogEntry = { level: string; msg: string | undefined; fields: Record<string, unknown> };

/** A Logger that keeps what it is told (child bindings included), to check what is and is not logged. */
export function recordingLogger(entries: LogEntry[] = [], bindings: Record<string, string> = {}): Logger & { entries: LogEntry[] } {
  const at =
    (level: string) =>
    (obj: object, msg?: string): void =>
      void entries.push({ level, msg, fields: { ...bindings, ...obj } });
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(entries, { ...bindings, ...more }),
  };
}

/** The real bus, counting live handlers: a subscription that ended must not leave one behind. */
export function countingBus(inner: EventBus): EventBus & { readonly handlers: number } {
  let handlers = 0;
  return {
    get handlers() {
      return handlers;
    },
    publish: (e) => inner.publish(e),
    subscribe(handler) {
      handlers++;
      const off = inner.subscribe(handler);
      let done = false;
      return () => {
        if (!done) handlers--;
        done = true;
        off();
      };
    },
    close: () => inner.close(),
  };
}
