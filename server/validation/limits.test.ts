import { parse, specifiedRules, validate, type GraphQLSchema } from 'graphql';
import { buildGatewaySchema } from '../schema/executable-schema.js';
import { costLimitRule, depthLimitRule } from './index.js';

let schema: GraphQLSchema;
beforeAll(async () => {
  schema = await buildGatewaySchema();
});

const errorsOf = (query: string, rule: ReturnType<typeof depthLimitRule>): string[] =>
  validate(schema, parse(query), [...specifiedRules, rule]).map((e) => e.message);

describe('depth limit', () => {
  test('an operation at the limit passes', () => {
    expect(errorsOf('{ products { deviceGroups { product { id } } } }', depthLimitRule(4))).toEqual([]);
  });

  test('an operation one level deeper is refused, with the depth and the limit named', () => {
    expect(errorsOf('query Deep { products { deviceGroups { product { deviceGroups { id } } } } }', depthLimitRule(4))).toEqual([
      'Operation "Deep" is nested 5 levels deep; the limit is 4.',
    ]);
  });

  test('depth hidden in fragments is counted', () => {
    const q = `query { products { ...P } }
      fragment P on Product { deviceGroups { ...G } }
      fragment G on DeviceGroup { product { deviceGroups { id } } }`;
    expect(errorsOf(q, depthLimitRule(4))).toHaveLength(1);
    expect(errorsOf(q, depthLimitRule(5))).toEqual([]);
  });

  test('introspection does not count, so tools can load the schema', () => {
    const q = '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }';
    expect(errorsOf(q, depthLimitRule(2))).toEqual([]);
  });

  test('a fragment cycle is reported by graphql and does not hang the rule', () => {
    const q = `{ products { ...A } } fragment A on Product { deviceGroups { product { ...A } } }`;
    const messages = errorsOf(q, depthLimitRule(10));
    expect(messages.some((m) => m.includes('Cannot spread fragment "A" within itself'))).toBe(true);
  });

  test('fragments spread many times are measured once (no exponential walk)', () => {
    const defs = Array.from({ length: 30 }, (_, i) => `fragment F${i} on Product { ...F${i + 1} ...F${i + 1} }`).join('\n');
    const q = `{ products { ...F0 } }\n${defs}\nfragment F30 on Product { id }`;
    const started = Date.now();
    expect(errorsOf(q, depthLimitRule(10))).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

describe('cost limit', () => {
  test('a page multiplies what each item selects', () => {
    // 1 + 100 × (edges 1 + node 1 + product 1) = 301
    const q = '{ devices(first: 100) { edges { node { id product { name } } } } }';
    expect(errorsOf(q, costLimitRule(301))).toEqual([]);
    expect(errorsOf(q, costLimitRule(300))).toEqual(['The operation may return about 301 objects; the limit is 300. Ask for smaller pages (first) or fewer nested lists.']);
  });

  test('a page size from a variable counts as its default, or as the largest page when it has none', () => {
    const withDefault = 'query($n: Int = 10) { devices(first: $n) { edges { node { id } } } }';
    expect(errorsOf(withDefault, costLimitRule(21))).toEqual([]);
    const withoutDefault = 'query($n: Int) { devices(first: $n) { edges { node { id } } } }';
    // 1 + 500 × (edges 1 + node 1) = 1001: validation cannot see the value, so the worst case counts.
    expect(errorsOf(withoutDefault, costLimitRule(1001))).toEqual([]);
    expect(errorsOf(withoutDefault, costLimitRule(1000))).toHaveLength(1);
  });

  test('nested lists without first multiply by the assumed list size', () => {
    // products 1 + 10 × (deviceGroups 1 + 10 × (product 1)) = 111
    const q = '{ products { deviceGroups { product { id } } } }';
    expect(errorsOf(q, costLimitRule(111))).toEqual([]);
    expect(errorsOf(q, costLimitRule(110))).toHaveLength(1);
  });

  test('a wide, shallow query of many pages is refused even when it is not deep', () => {
    const q = `{ ${Array.from({ length: 25 }, (_, i) => `d${i}: devices(first: 500) { edges { node { id } } }`).join(' ')} }`;
    expect(errorsOf(q, depthLimitRule(10))).toEqual([]);
    expect(errorsOf(q, costLimitRule(10_000))).toHaveLength(1);
  });
});
