/** A Logger that keeps every line, so tests can assert what was logged (and that no secret ever is). */
import type { Logger } from '../../domain/shared/logger.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>>;
}

export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: Readonly<Record<string, string>> = {},
  ) {}

  debug(obj: object, msg = ''): void {
    this.write('debug', obj, msg);
  }
  info(obj: object, msg = ''): void {
    this.write('info', obj, msg);
  }
  warn(obj: object, msg = ''): void {
    this.write('warn', obj, msg);
  }
  error(obj: object, msg = ''): void {
    this.write('error', obj, msg);
  }
  child(bindings: Record<string, string>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }

  find(msg: string, fields: Record<string, unknown> = {}): LogLine | undefined {
    return this.lines.find((l) => l.msg === msg && Object.entries(fields).every(([k, v]) => l.fields[k] === v));
  }

  /** Everything logged, as one string (to search for leaked secrets). */
  text(): string {
    return this.lines.map((l) => `${l.level} ${l.msg} ${JSON.stringify(l.fields)}`).join('\n');
  }

  private write(level: LogLine['level'], obj: object, msg: string): void {
    this.lines.push({ level, msg, fields: { ...this.bindings, ...obj } });
  }
}
