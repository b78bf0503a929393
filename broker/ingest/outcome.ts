import type { DeviceFacingError } from '../errors.js';

/**
 * What became of one device message. `rejected` is the device's fault and final (it is told why and the message
 * is acknowledged and dropped). A failure that is not the device's fault is thrown instead, so the message is not
 * acknowledged and the device sends it again.
 */
export type IngestOutcome =
  | { readonly kind: 'stored' }
  | ({ readonly kind: 'rejected' } & DeviceFacingError)
  /** Some of the message was stored, some refused: acknowledged, and the device is told what was refused. */
  | ({ readonly kind: 'partly-stored' } & DeviceFacingError);

export const stored: IngestOutcome = Object.freeze({ kind: 'stored' });
export const rejected = (error: DeviceFacingError): IngestOutcome => ({ kind: 'rejected', ...error });
export const partlyStored = (error: DeviceFacingError): IngestOutcome => ({ kind: 'partly-stored', ...error });
