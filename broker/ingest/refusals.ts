import { deviceFacingError } from '../errors.js';
import { rejected, type IngestOutcome } from './outcome.js';

/** A domain refusal becomes a device-facing one; anything else is thrown on (not acknowledged, sent again). */
export async function withDomainRefusals(work: () => Promise<IngestOutcome>): Promise<IngestOutcome> {
  try {
    return await work();
  } catch (error) {
    const facing = deviceFacingError(error);
    if (facing === null) throw error;
    return rejected(facing);
  }
}
