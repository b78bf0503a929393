import type { Logger } from '../domain/shared/logger.js';

/** What the broker knows about an admitted device connection, from authentication until it closes. */
export interface DeviceSession {
  readonly deviceId: string;
  readonly tenantId: string | null;
  readonly remoteAddress: string | null;
  /** Bound to deviceId and remoteAddress, so every line about this connection names both. */
  readonly log: Logger;
}

/** Long values from the wire (topics, client ids) are cut before they reach a log line or a reply. */
export const clip = (value: string, max = 300): string => (value.length > max ? `${value.slice(0, max)}…` : value);

/**
 * The logger of one connection: every line names the connection (device id, address, certificate kind), merged
 * into the line's own fields when it is written. A pino child per connection would serialise those bindings up
 * front and keep them for the connection's life, for every device, whether anything is ever logged about it.
 */
export class ConnectionLogger implements Logger {
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
    return new ConnectionLogger(this.parent, { ...this.bindings, ...bindings });
  }
}
