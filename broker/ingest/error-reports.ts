/**
 * devices/{id}/up/error-reports: size check -> decode -> errorReports.report (stored before the PUBACK) -> outcome.
 * Events the service refuses are named in one reply on down/error; the batch's other events are kept, so a single
 * bad event never costs the device the rest. That holds for an event that breaks the contract's event schema
 * (decodeErrorReports checks each on its own) as for one the domain refuses; only a batch whose envelope is wrong
 * (not JSON, too large, `events` not 1..MAX_ERROR_EVENTS_PER_BATCH objects, …) is refused whole.
 *
 * The publish flow starts a device's consecutive error reports together, so they must reach the writer in arrival
 * order: nothing here may await before errorReports.report is called (the writer queues in call order).
 */
import { decodeErrorReports, type RefusedEvent } from '../../contract/mqtt/codec.js';
import { MAX_ERROR_REPORTS_BYTES, type ErrorReports } from '../../contract/mqtt/messages.js';
import type { ErrorReportBatch } from '../../domain/views.js';
import type { IngestContext } from './context.js';
import { partlyStored, rejected, stored, type IngestOutcome } from './outcome.js';
import { withDomainRefusals } from './refusals.js';

export async function ingestErrorReports(ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> {
  if (payload.byteLength > MAX_ERROR_REPORTS_BYTES) {
    return rejected({ code: 'BAD_PAYLOAD', message: `payload is ${payload.byteLength} bytes; at most ${MAX_ERROR_REPORTS_BYTES} are accepted` });
  }
  const decoded = decodeErrorReports(payload);
  if (!decoded.ok) return rejected({ code: 'BAD_PAYLOAD', message: decoded.error });
  const total = decoded.value.events.length + decoded.refused.length;
  const unreadable = decoded.refused.map(named);
  // Nothing left to store: refused as a wholly bad batch always was (droppedTotal included).
  if (unreadable.length === total) return rejected({ code: 'BAD_PAYLOAD', message: refusal(unreadable, total) });
  const { errorReports } = ctx;
  if (!errorReports) return rejected({ code: 'FORBIDDEN', message: 'this broker node does not take error reports' });
  const batch = toBatch(decoded.value);
  return withDomainRefusals(async () => {
    const result = await errorReports.report(ctx.deviceId, batch);
    const refused = unreadable.length === 0 ? result.refused : [...unreadable, ...result.refused];
    if (refused.length === 0) return stored;
    const message = refusal(refused, total);
    return refused.length === total ? rejected({ code: 'BAD_PAYLOAD', message }) : partlyStored({ code: 'BAD_PAYLOAD', message });
  });
}

interface Refused {
  readonly eventId: string;
  readonly reason: string;
}

/** An event the schema refused, named by its ID, or by its place in the batch when it has no well-formed one. */
const named = (r: RefusedEvent): Refused => ({ eventId: r.eventId ?? `/events/${r.index}`, reason: r.error });

const refusal = (refused: readonly Refused[], total: number): string =>
  `${refused.length} of ${total} events refused: ${refused.map((r) => `${r.eventId}: ${r.reason}`).join('; ')}`;

/**
 * The domain's form of a batch. A time that matches the pattern but is no date (e.g. month 13) stays an invalid
 * Date: the domain refuses that event alone (event-checks.ts).
 */
function toBatch(value: ErrorReports): ErrorReportBatch {
  return {
    events: value.events.map((e) => ({
      eventId: e.eventId,
      category: e.category,
      componentId: e.componentId ?? null,
      imageId: e.imageId ?? null,
      exitCode: e.exitCode ?? null,
      signal: e.signal ?? null,
      description: e.description ?? null,
      count: e.count,
      startTime: new Date(e.startTime),
      endTime: new Date(e.endTime),
    })),
    droppedTotal: value.droppedTotal ?? null,
  };
}
