import { pino, type Logger as PinoLogger } from 'pino';
import type { Logger } from '../domain/shared/logger.js';

/**
 * Structured logging (pino) behind the domain's Logger port. Anything that looks like a secret is redacted by path
 * so a careless `log.info({ input })` can never print a key or token.
 */
const REDACT = [
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'privateKey',
  '*.privateKey',
  'privateKeyPem',
  '*.privateKeyPem',
  'keyPem',
  '*.keyPem',
  'adminKey',
  '*.adminKey',
  'password',
  '*.password',
];

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export function createLogger(opts: { level: LogLevel; name?: string; destination?: NodeJS.WritableStream }): Logger {
  const p = pino(
    { name: opts.name ?? 'spheregate', level: opts.level, redact: { paths: REDACT, censor: '[redacted]' } },
    opts.destination ?? process.stdout,
  );
  return adapt(p);
}

function adapt(p: PinoLogger): Logger {
  return {
    debug: (obj, msg) => p.debug(obj, msg),
    info: (obj, msg) => p.info(obj, msg),
    warn: (obj, msg) => p.warn(obj, msg),
    error: (obj, msg) => p.error(obj, msg),
    child: (bindings) => adapt(p.child(bindings)),
  };
}
