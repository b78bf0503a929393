/** One ingest function per device -> service message; the Record makes a new UP_MESSAGES entry a compile error here. */
import type { UpMessage } from '../../contract/mqtt/topics.js';
import type { PresenceService } from '../../domain/services.js';
import type { IngestOutcome } from './outcome.js';
import { ingestStatus } from './status.js';

export type { IngestOutcome } from './outcome.js';

type Ingest = (presence: PresenceService, deviceId: string, payload: Uint8Array) => Promise<IngestOutcome>;

const INGEST: { readonly [M in UpMessage]: Ingest } = {
  status: ingestStatus,
};

export const ingest = (message: UpMessage, presence: PresenceService, deviceId: string, payload: Uint8Array): Promise<IngestOutcome> =>
  INGEST[message](presence, deviceId, payload);
