import { csvField, filterOfQuery } from './error-csv-route.js';

describe('CSV fields', () => {
  test('quotes separators, quotes and line breaks (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\r\nlines')).toBe('"two\r\nlines"');
    expect(csvField(null)).toBe('');
    expect(csvField(-1)).toBe('-1');
  });

  test('defuses device text a spreadsheet would run as a formula', () => {
    expect(csvField('=HYPERLINK("http://evil")', true)).toBe(`"'=HYPERLINK(""http://evil"")"`);
    expect(csvField('+1', true)).toBe("'+1");
    expect(csvField('@SUM(A1)', true)).toBe("'@SUM(A1)");
    expect(csvField('exit_code=1', true)).toBe('exit_code=1');
  });
});

describe('CSV query parameters', () => {
  test('map to the GraphQL filter fields', () => {
    const parsed = filterOfQuery(new URLSearchParams('category=AppCrash&from=2026-01-01T00:00:00Z&deviceGroupId=g'));
    expect(parsed).toEqual({
      ok: true,
      filter: expect.objectContaining({ category: 'AppCrash', deviceGroupId: 'g', from: new Date('2026-01-01T00:00:00Z'), to: null, deviceId: null }),
    });
  });

  test('refuse unknown, repeated and malformed parameters', () => {
    expect(filterOfQuery(new URLSearchParams('colour=red'))).toEqual({ ok: false, error: 'unknown query parameter "colour"' });
    expect(filterOfQuery(new URLSearchParams('deviceId=a&deviceId=b'))).toEqual({ ok: false, error: 'query parameter "deviceId" given twice' });
    expect(filterOfQuery(new URLSearchParams('to=yesterday'))).toEqual({ ok: false, error: 'to: must be an ISO-8601 date-time' });
  });
});
