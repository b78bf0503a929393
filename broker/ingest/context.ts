import type { Payload } from '../../contract/mqtt/codec.js';
import type { DownMessage } from '../../contract/mqtt/topics.js';
import type { AttestationService, PresenceService } from '../../domain/services.js';

/** What one ingest call may use: the domain services, the device it is for, and a way to answer it. */
export interface IngestContext {
  readonly presence: PresenceService;
  /** Null on a broker node that does not broker certificates (attestation messages are then refused). */
  readonly attestation: AttestationService | null;
  readonly deviceId: string;
  reply<M extends DownMessage>(message: M, payload: Payload<M>): Promise<void>;
}
