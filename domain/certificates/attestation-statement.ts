/**
 * The statement a device signs (contract/mqtt/messages.ts AttestationStatement, declared again here because the
 * domain does not import the contract; test/contract-alignment.test.ts keeps the two equal).
 */
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { NO_NUL_PATTERN, NUL_REFUSAL } from '../shared/validation.js';

const Guid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

export const Statement = Type.Object(
  {
    v: Type.Literal(1),
    nonce: Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' }),
    deviceId: Type.String({ pattern: '^[0-9A-F]{128}$' }),
    measurements: Type.Object(
      {
        osVersion: Type.String({ minLength: 1, maxLength: 64, pattern: NO_NUL_PATTERN }),
        images: Type.Array(
          Type.Object({ componentId: Guid, imageId: Guid, sha256: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) }, { additionalProperties: false }),
          { maxItems: 64 },
        ),
      },
      { additionalProperties: false },
    ),
    csr: Type.String({ minLength: 1, maxLength: 8192, pattern: '^[^\\x00]*-----BEGIN CERTIFICATE REQUEST-----[^\\x00]*$' }),
  },
  { additionalProperties: false },
);
export type Statement = Static<typeof Statement>;

const check = TypeCompiler.Compile(Statement);

export type ParsedStatement = { readonly ok: true; readonly statement: Statement } | { readonly ok: false; readonly reason: string };

export function parseStatement(bytes: Uint8Array): ParsedStatement {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return { ok: false, reason: 'statement is not UTF-8 JSON' };
  }
  if (check.Check(json)) return { ok: true, statement: json };
  const first = check.Errors(json).First();
  return { ok: false, reason: first ? `statement${first.path || '/'}: ${explain(first)}` : 'statement does not match the schema' };
}

const explain = (e: ValueError): string => (e.type === ValueErrorType.StringPattern && e.schema.pattern === NO_NUL_PATTERN ? NUL_REFUSAL : e.message);
