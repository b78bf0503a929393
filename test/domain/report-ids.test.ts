import { newReportId } from '../../domain/error-reports/report-ids.js';
import { isUuid } from '../../domain/shared/ids.js';

describe('error report IDs', () => {
  test('are version 7 UUIDs that sort by the millisecond they were made', () => {
    const earlier = newReportId(Date.UTC(2026, 11, 3, 8, 0, 0, 1));
    const later = newReportId(Date.UTC(2026, 11, 3, 8, 0, 0, 2));
    for (const id of [earlier, later]) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect(earlier < later).toBe(true);
    expect(parseInt(earlier.slice(0, 8) + earlier.slice(9, 13), 16)).toBe(Date.UTC(2026, 11, 3, 8, 0, 0, 1));
  });

  test('made in the same millisecond, they still differ', () => {
    const at = Date.now();
    const ids = new Set(Array.from({ length: 1000 }, () => newReportId(at)));
    expect(ids.size).toBe(1000);
  });
});
