/**
 * Reads the inbound MQTT byte stream alongside aedes and stops a connection before a hostile packet costs memory.
 * mqtt-packet (aedes' parser) has no size limit: it buffers a PUBLISH of any declared length (up to 256 MiB) until
 * it is complete. This guard needs only the fixed header — packet type and remaining length — to see the size a
 * packet announces, so an oversized packet is refused after its first few bytes. SUBSCRIBE packets (bounded by the
 * size limit) are kept whole to count their topic filters, because aedes' authorizeSubscribe sees one filter at a
 * time and never the packet.
 */

/** MQTT control packet type 8 ([MQTT-2.2.1]). */
const SUBSCRIBE = 8;
/** The remaining-length field has at most 4 bytes ([MQTT-2.2.3]). */
const MAX_LENGTH_BYTES = 4;

export type FrameViolation =
  | { readonly reason: 'PACKET_TOO_LARGE'; readonly packetBytes: number; readonly limit: number }
  | { readonly reason: 'TOO_MANY_TOPICS'; readonly topics: number; readonly limit: number }
  | { readonly reason: 'MALFORMED_LENGTH' };

export interface FrameGuardLimits {
  readonly maxPacketBytes: number;
  readonly maxTopicsPerSubscribe: number;
}

type State =
  | { readonly at: 'header' }
  | { readonly at: 'length'; readonly type: number; readonly value: number; readonly bytes: number }
  | { readonly at: 'body'; readonly type: number; readonly remaining: number; readonly kept: Buffer[] | null };

export class InboundFrameGuard {
  private state: State = { at: 'header' };
  private violation: FrameViolation | null = null;

  constructor(private readonly limits: FrameGuardLimits) {}

  /** Feeds the next bytes read from the connection; returns the first violation seen, or null while all is well. */
  push(chunk: Uint8Array): FrameViolation | null {
    let i = 0;
    while (this.violation === null && i < chunk.length) {
      const s = this.state;
      if (s.at === 'header') {
        this.state = { at: 'length', type: (chunk[i] ?? 0) >> 4, value: 0, bytes: 0 };
        i += 1;
      } else if (s.at === 'length') {
        const byte = chunk[i] ?? 0;
        i += 1;
        const value = s.value + (byte & 0x7f) * 128 ** s.bytes;
        const bytes = s.bytes + 1;
        if (byte & 0x80) {
          if (bytes >= MAX_LENGTH_BYTES) this.violation = { reason: 'MALFORMED_LENGTH' };
          else this.state = { ...s, value, bytes };
        } else {
          this.startBody(s.type, value, 1 + bytes + value);
        }
      } else {
        const take = Math.min(s.remaining, chunk.length - i);
        s.kept?.push(Buffer.from(chunk.subarray(i, i + take)));
        i += take;
        const remaining = s.remaining - take;
        if (remaining === 0) this.endBody(s.type, s.kept);
        else this.state = { ...s, remaining };
      }
    }
    return this.violation;
  }

  private startBody(type: number, remaining: number, packetBytes: number): void {
    if (packetBytes > this.limits.maxPacketBytes) {
      this.violation = { reason: 'PACKET_TOO_LARGE', packetBytes, limit: this.limits.maxPacketBytes };
    } else if (remaining === 0) {
      this.endBody(type, null);
    } else {
      this.state = { at: 'body', type, remaining, kept: type === SUBSCRIBE ? [] : null };
    }
  }

  private endBody(type: number, kept: Buffer[] | null): void {
    this.state = { at: 'header' };
    if (type !== SUBSCRIBE || kept === null) return;
    const topics = countSubscribeFilters(Buffer.concat(kept));
    if (topics > this.limits.maxTopicsPerSubscribe) {
      this.violation = { reason: 'TOO_MANY_TOPICS', topics, limit: this.limits.maxTopicsPerSubscribe };
    }
  }
}

/**
 * SUBSCRIBE body: packet identifier (2 bytes), then per filter a 2-byte length, the filter and a QoS byte
 * ([MQTT-3.8.3]). A malformed body is counted as far as it goes; mqtt-packet then refuses it on its own.
 */
export function countSubscribeFilters(body: Buffer): number {
  let offset = 2;
  let count = 0;
  while (offset + 2 <= body.length) {
    offset += 2 + body.readUInt16BE(offset) + 1;
    count += 1;
  }
  return count;
}
