/** Logging port (pino-compatible subset). infra/log.ts implements it and redacts secrets. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, string>): Logger;
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
};

/**
 * A logger whose every line carries `bindings` (a connection's device and address, a request's id), merged into
 * the line's own fields as it is written. A pino child per connection or request would serialise the bindings up
 * front and keep them, whether anything is ever logged about it; most are never logged about.
 */
export class BoundLogger implements Logger {
  constructor(
    private readonly parent: Logger,
    private readonly bindings: Readonly<Record<string, string>>,
  ) {}

  debug(obj: object, msg?: string): void {
    this.parent.debug({ ...this.bindings, ...obj }, msg);
  }
  info(obj: object, msg?: string): void {
    this.parent.info({ ...this.bindings, ...obj }, msg);
  }
  warn(obj: object, msg?: string): void {
    this.parent.warn({ ...this.bindings, ...obj }, msg);
  }
  error(obj: object, msg?: string): void {
    this.parent.error({ ...this.bindings, ...obj }, msg);
  }
  child(bindings: Record<string, string>): Logger {
    return new BoundLogger(this.parent, { ...this.bindings, ...bindings });
  }
}
