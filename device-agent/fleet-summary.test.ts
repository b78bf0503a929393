import { formatSummary, type FleetSummary } from './fleet.js';

const base: FleetSummary = { total: 50, started: 50, online: 48, certified: 47, errorEventsSent: 0, updating: 0, installed: 0, failing: {} };

test('the summary line names only what has happened', () => {
  expect(formatSummary(base)).toBe('48/50 online, 47 certified, 50 started');
  expect(formatSummary({ ...base, updating: 3, installed: 45, errorEventsSent: 1, failing: { ECONNREFUSED: 2, 'TLS refused': 1 } })).toBe(
    '48/50 online, 47 certified, 50 started, 3 updating, 45 installed, 1 error event sent; failing: 2 × ECONNREFUSED, 1 × TLS refused',
  );
});
