/**
 * GET /error-reports.csv: every error report matching the query's filter, newest first, streamed as CSV (RFC 4180).
 * The filter fields are those of GraphQL's ErrorReportFilter, as query parameters; the same bearer key and the same
 * domain call decide who sees what, so the download and `errorReports` never disagree. Azure Sphere's
 * download-error-report columns come first, then ours.
 */
import type { ServerResponse } from 'node:http';
import type { ErrorReportsService, TenancyService } from '../../domain/services.js';
import type { ErrorReportFilter, ErrorReportView } from '../../domain/views.js';
import { actorOrUnauthorized, sendRefusal } from './route-auth.js';
import { sendJson, type HttpRoute } from './routes.js';

export const ERROR_CSV_PATH = '/error-reports.csv';

export const CSV_COLUMNS = [
  'DeviceId',
  'EventType',
  'EventClass',
  'EventCategory',
  'EventCount',
  'Description',
  'StartTime',
  'EndTime',
  'ComponentId',
  'ImageId',
  'ExitCode',
  'Signal',
  'ProductId',
  'DeviceGroupId',
  'EventId',
  'IssueId',
  'ReceivedAt',
] as const;

const FILTER_PARAMS = ['productId', 'deviceGroupId', 'deviceId', 'category', 'eventClass', 'eventType', 'componentId', 'imageId', 'from', 'to'] as const;
type FilterParam = (typeof FILTER_PARAMS)[number];

/** A query string as a domain filter (the domain validates the values), or the name of a parameter it cannot be. */
export function filterOfQuery(search: URLSearchParams): { ok: true; filter: ErrorReportFilter } | { ok: false; error: string } {
  const values: Partial<Record<FilterParam, string>> = {};
  for (const [name, value] of search) {
    if (!(FILTER_PARAMS as readonly string[]).includes(name)) return { ok: false, error: `unknown query parameter "${name}"` };
    if (values[name as FilterParam] !== undefined) return { ok: false, error: `query parameter "${name}" given twice` };
    values[name as FilterParam] = value;
  }
  const date = (name: 'from' | 'to'): Date | null | string => {
    const v = values[name];
    if (v === undefined) return null;
    const d = new Date(v);
    return Number.isNaN(d.getTime()) ? `${name}: must be an ISO-8601 date-time` : d;
  };
  const from = date('from');
  const to = date('to');
  if (typeof from === 'string') return { ok: false, error: from };
  if (typeof to === 'string') return { ok: false, error: to };
  return {
    ok: true,
    filter: {
      productId: values.productId ?? null,
      deviceGroupId: values.deviceGroupId ?? null,
      deviceId: values.deviceId ?? null,
      category: (values.category ?? null) as ErrorReportFilter['category'],
      eventClass: (values.eventClass ?? null) as ErrorReportFilter['eventClass'],
      eventType: (values.eventType ?? null) as ErrorReportFilter['eventType'],
      componentId: values.componentId ?? null,
      imageId: values.imageId ?? null,
      from,
      to,
    },
  };
}

/** One CSV field. Free text that a spreadsheet would run as a formula is prefixed with a quote (OWASP CSV injection). */
export function csvField(value: string | number | null, freeText = false): string {
  if (value === null) return '';
  let s = String(value);
  if (freeText && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvRow(r: ErrorReportView): string {
  return [
    csvField(r.deviceId),
    csvField(r.eventType),
    csvField(r.eventClass),
    csvField(r.category),
    csvField(r.count),
    csvField(r.description, true),
    csvField(r.startTime.toISOString()),
    csvField(r.endTime.toISOString()),
    csvField(r.componentId),
    csvField(r.imageId),
    csvField(r.exitCode),
    csvField(r.signal),
    csvField(r.productId),
    csvField(r.deviceGroupId),
    csvField(r.eventId),
    csvField(r.issueId),
    csvField(r.receivedAt.toISOString()),
  ].join(',');
}

async function write(res: ServerResponse, chunk: string): Promise<void> {
  if (!res.write(chunk)) await new Promise<void>((resolve) => res.once('drain', resolve));
}

export function errorCsvRoute(services: { readonly tenancy: TenancyService; readonly errorReports: Pick<ErrorReportsService, 'exportErrorReports'> }): HttpRoute {
  return {
    path: ERROR_CSV_PATH,
    methods: ['GET'],
    async handle(req, res, ctx) {
      const actor = await actorOrUnauthorized(services.tenancy, req, res);
      if (actor === null) return;
      const parsed = filterOfQuery(new URL(req.url ?? '/', 'http://localhost').searchParams);
      if (!parsed.ok) return sendJson(res, 400, { error: parsed.error, code: 'BAD_USER_INPUT' });

      let rows: AsyncIterable<ErrorReportView>;
      try {
        rows = await services.errorReports.exportErrorReports(actor, parsed.filter);
      } catch (e) {
        if (sendRefusal(res, e)) return;
        throw e;
      }
      res.writeHead(200, {
        'content-type': 'text/csv; charset=utf-8; header=present',
        'content-disposition': 'attachment; filename="error-reports.csv"',
        'cache-control': 'no-store',
      });
      let count = 0;
      await write(res, `${CSV_COLUMNS.join(',')}\r\n`);
      for await (const r of rows) {
        if (res.destroyed) return;
        await write(res, `${csvRow(r)}\r\n`);
        count++;
      }
      res.end();
      ctx.log.info({ rows: count }, 'error reports exported as CSV');
    },
  };
}
