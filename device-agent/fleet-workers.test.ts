import { mergeSummaries, slices } from './fleet-workers.js';

test('slices share the identities out evenly, none empty', () => {
  expect(slices([1, 2, 3, 4, 5], 2)).toEqual([
    [1, 3, 5],
    [2, 4],
  ]);
  expect(slices([1, 2], 4)).toEqual([[1], [2]]);
  expect(slices([1, 2, 3], 1)).toEqual([[1, 2, 3]]);
});

test('worker summaries add up, failure reasons merged', () => {
  const part = { total: 2, started: 2, online: 1, certified: 1, errorEventsSent: 3, updating: 1, installed: 0, failing: { ECONNREFUSED: 1 } };
  expect(mergeSummaries(4, [part, { ...part, online: 2, failing: { ECONNREFUSED: 1, 'TLS refused': 1 } }])).toEqual({
    total: 4,
    started: 4,
    online: 3,
    certified: 2,
    errorEventsSent: 6,
    updating: 2,
    installed: 0,
    failing: { ECONNREFUSED: 2, 'TLS refused': 1 },
  });
});
