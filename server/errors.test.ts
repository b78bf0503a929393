import { GraphQLError, buildSchema, isEnumType, locatedError } from 'graphql';
import { DomainError, ERROR_CODES, notFound } from '../domain/shared/errors.js';
import { formatError, formatGraphQLError, INTERNAL_MESSAGE, isInternalError, withCode } from './errors.js';
import { loadSdl } from './schema/load-sdl.js';

/** What Apollo hands formatError for an error thrown in a resolver at `device`. */
const fieldError = (thrown: Error): { formatted: ReturnType<GraphQLError['toJSON']>; error: GraphQLError } => {
  const error = locatedError(thrown, undefined, ['device']);
  const json = error.toJSON();
  return { formatted: { ...json, extensions: { code: 'INTERNAL_SERVER_ERROR', ...json.extensions } }, error };
};

describe('formatError: errors mapped once at the GraphQL edge', () => {
  test('a domain refusal keeps its code, message and safe details', () => {
    const { formatted, error } = fieldError(notFound('Device', 'D1'));
    expect(formatError(formatted, error)).toEqual({
      message: 'Device not found',
      path: ['device'],
      extensions: { code: 'NOT_FOUND', details: { kind: 'Device', id: 'D1' } },
    });
  });

  test('an unknown error becomes INTERNAL_SERVER_ERROR with a generic message and no stack', () => {
    const { formatted, error } = fieldError(new Error('connect ECONNREFUSED 10.0.0.7:5432 (password=hunter2)'));
    const out = formatError(formatted, error);
    expect(out).toEqual({ message: INTERNAL_MESSAGE, path: ['device'], extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(JSON.stringify(out)).not.toMatch(/ECONNREFUSED|hunter2|stack/);
    expect(isInternalError(error)).toBe(true);
  });

  test('a domain INTERNAL_SERVER_ERROR is masked too', () => {
    const { formatted, error } = fieldError(new DomainError('INTERNAL_SERVER_ERROR', 'pool exhausted'));
    expect(formatError(formatted, error).message).toBe(INTERNAL_MESSAGE);
  });

  test("graphql's own request errors keep their standard code and message", () => {
    const validation = new GraphQLError('Cannot query field "nope" on type "Query".', { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(formatError(validation.toJSON(), validation)).toEqual({
      message: 'Cannot query field "nope" on type "Query".',
      extensions: { code: 'GRAPHQL_VALIDATION_FAILED' },
    });
    expect(isInternalError(validation)).toBe(false);
  });

  test('a GraphQLError nobody gave a code (e.g. a scalar that cannot serialise) is internal', () => {
    const error = locatedError(new GraphQLError('DateTime cannot represent this value'), undefined, ['x']);
    expect(formatGraphQLError(error)).toMatchObject({ message: INTERNAL_MESSAGE, extensions: { code: 'INTERNAL_SERVER_ERROR' } });
  });

  test('only the code travels: other extensions are dropped', () => {
    const error = new GraphQLError('Variable "$x" got invalid value', { extensions: { code: 'BAD_USER_INPUT', secret: 'x' } });
    expect(formatGraphQLError(error).extensions).toEqual({ code: 'BAD_USER_INPUT' });
    expect(formatGraphQLError(withCode(new GraphQLError('Syntax Error: Unexpected <EOF>.'), 'GRAPHQL_PARSE_FAILED')).extensions).toEqual({
      code: 'GRAPHQL_PARSE_FAILED',
    });
  });
});

test('the SDL ErrorCode enum lists exactly the domain catalogue', async () => {
  const schema = buildSchema((await loadSdl()).join('\n'));
  const enumType = schema.getType('ErrorCode');
  if (!isEnumType(enumType)) throw new Error('ErrorCode is not an enum');
  expect(enumType.getValues().map((v) => v.name).sort()).toEqual([...ERROR_CODES].sort());
});
