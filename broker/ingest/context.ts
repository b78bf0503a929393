import type { Payload } from '../../contract/mqtt/codec.js';
import type { DownMessage } from '../../contract/mqtt/topics.js';
import type { AttestationService, DeploymentsService, ErrorReportsService, PresenceService } from '../../domain/services.js';
import type { UpdateDelivery } from '../update-target.js';

/** What one ingest call may use: the domain services, the device it is for, and a way to answer it. */
export interface IngestContext {
  readonly presence: PresenceService;
  /** Null on a broker node that does not broker certificates (attestation messages are then refused). */
  readonly attestation: AttestationService | null;
  /** Null on a broker node that does not take error reports (they are then refused). */
  readonly errorReports: ErrorReportsService | null;
  /** Null on a broker node that does not deliver updates. */
  readonly deployments: DeploymentsService | null;
  readonly delivery: UpdateDelivery | null;
  readonly deviceId: string;
  reply<M extends DownMessage>(message: M, payload: Payload<M>): Promise<void>;
}
