import type { Logger } from '../domain/shared/logger.js';

/** What the broker knows about an admitted device connection, from authentication until it closes. */
export interface DeviceSession {
  readonly deviceId: string;
  readonly tenantId: string | null;
  readonly remoteAddress: string | null;
  /** Bound to deviceId and remoteAddress, so every line about this connection names both. */
  readonly log: Logger;
}

/** Long values from the wire (topics, client ids) are cut before they reach a log line or a reply. */
export const clip = (value: string, max = 300): string => (value.length > max ? `${value.slice(0, max)}…` : value);
