/** DateTime: a Date (or an ISO-8601 string) out, always as ISO-8601 in UTC; ISO-8601 strings in, as Date. */
import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

// Full date-time with a zone (Z or ±hh:mm): a bare date or a local time would be read in the server's zone.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

function parseIso(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_DATE_TIME.test(value)) {
    throw new GraphQLError('DateTime must be an ISO-8601 date-time with a time zone, e.g. 2030-01-31T12:00:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new GraphQLError(`DateTime is not a valid date: ${value}`);
  return date;
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'ISO-8601 date-time in UTC.',
  serialize(value: unknown): string {
    if (value instanceof Date && !Number.isNaN(value.getTime())) return value.toISOString();
    if (typeof value === 'string') return parseIso(value).toISOString();
    // A server bug, not the caller's: no code, so the error formatter masks it.
    throw new GraphQLError('DateTime cannot represent this value');
  },
  parseValue: parseIso,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be a string', { nodes: [ast] });
    return parseIso(ast.value);
  },
});
