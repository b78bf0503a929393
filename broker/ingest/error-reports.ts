/**
 * devices/{id}/up/error-reports: size check -> decode -> errorReports.report (stored before the PUBACK) -> outcome.
 * Events the service refuses are named in one reply on down/error; the batch's other events are kept, so a single
 * bad event never costs the device the rest.
 *
 * The publish flow starts a device's consecutive error reports together, so they must reach the writer in arrival
 * order: nothing here may await before errorReports.report is called (the writer queues in call order).
 */
import { decode, type Payload } from '../../contract/mqtt/codec.js';
import { MAX_ERROR_REPORTS_BYTES } from '../../contract/mqtt/messages.js';
import type { ErrorReportBatch } from '../../domain/views.js';
import type { IngestContext } from './context.js';
import { partlyStored, rejected, stored, type IngestOutcome } from './outcome.js';
import { withDomainRefusals } from './refusals.js';

export async function ingestErrorReports(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  if (payload.byteLength > MAX_ERROR_REPORTS_BYTES) {
    return rejected({ code: 'BAD_PAYLOAD', message: `payload is ${payload.byteLength} bytes; at most ${MAX_ERROR_REPORTS_BYTES} are accepted` });
  }
  const decoded = decode('error-reports', payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  const { errorReports } = ctx;
  if (!errorReports) return rejected({ code: 'FORBIDDEN', message: 'this broker node does not take error reports' });
  const batch = toBatch(decoded.value);
  if (typeof batch === 'string') return rejected({ code: 'BAD_PAYLOAD', message: batch });
  return withDomainRefusals(async () => {
    const result = await errorReports.report(ctx.deviceId, batch);
    if (result.refused.length === 0) return stored;
    const detail = result.refused.map((r) => `${r.eventId}: ${r.reason}`).join('; ');
    const message = `${result.refused.length} of ${batch.events.length} events refused: ${detail}`;
    return result.refused.length === batch.events.length ? rejected({ code: 'BAD_PAYLOAD', message }) : partlyStored({ code: 'BAD_PAYLOAD', message });
  });
}

/** The domain's form of a batch, or why not (a time that matches the pattern but is no date, e.g. month 13). */
function toBatch(value: Payload<'error-reports'>): ErrorReportBatch | string {
  const events = [];
  for (const [i, e] of value.events.entries()) {
    const startTime = new Date(e.startTime);
    const endTime = new Date(e.endTime);
    if (Number.isNaN(startTime.getTime()) || Number.isNaN(endTime.getTime())) return `/events/${i}: startTime or endTime is not a date`;
    events.push({
      eventId: e.eventId,
      category: e.category,
      componentId: e.componentId ?? null,
      imageId: e.imageId ?? null,
      exitCode: e.exitCode ?? null,
      signal: e.signal ?? null,
      description: e.description ?? null,
      count: e.count,
      startTime,
      endTime,
    });
  }
  return { events, droppedTotal: value.droppedTotal ?? null };
}
