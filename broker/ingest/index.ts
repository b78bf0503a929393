/** One ingest function per device -> service message; the Record makes a new UP_MESSAGES entry a compile error here. */
import type { UpMessage } from '../../contract/mqtt/topics.js';
import { ingestAttestation } from './attestation.js';
import { ingestChallengeRequest } from './challenge-request.js';
import type { IngestContext } from './context.js';
import { ingestErrorReports } from './error-reports.js';
import type { IngestOutcome } from './outcome.js';
import { ingestStatus } from './status.js';
import { ingestUpdateStatus } from './update-status.js';

export type { IngestContext } from './context.js';
export type { IngestOutcome } from './outcome.js';

type Ingest = (ctx: IngestContext, payload: Uint8Array) => Promise<IngestOutcome>;

const INGEST: { readonly [M in UpMessage]: Ingest } = {
  status: ingestStatus,
  'challenge-request': ingestChallengeRequest,
  attestation: ingestAttestation,
  'error-reports': ingestErrorReports,
  'update-status': ingestUpdateStatus,
};

export const ingest = (message: UpMessage, ctx: IngestContext, payload: Uint8Array): Promise<IngestOutcome> => INGEST[message](ctx, payload);
