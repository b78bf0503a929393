import { countSubscribeFilters, InboundFrameGuard } from './frame-guard.js';

const limits = { maxPacketBytes: 1024, maxTopicsPerSubscribe: 2 };

/** Fixed header + body, with the remaining length encoded as MQTT does. */
function packet(type: number, body: Buffer, flags = 0): Buffer {
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([(type << 4) | flags, ...length]), body]);
}

function subscribeBody(filters: readonly string[]): Buffer {
  const parts = [Buffer.from([0x00, 0x01])];
  for (const f of filters) {
    const topic = Buffer.from(f, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(topic.length);
    parts.push(len, topic, Buffer.from([1]));
  }
  return Buffer.concat(parts);
}

const publish = (bytes: number): Buffer => packet(3, Buffer.alloc(bytes - 1 - (bytes - 1 > 127 ? 2 : 1), 0x61));
const pingreq = Buffer.from([0xc0, 0x00]);

describe('InboundFrameGuard', () => {
  test('lets packets up to the limit through, however they are split into chunks', () => {
    const stream = Buffer.concat([publish(1024), pingreq, publish(200), pingreq]);
    for (const chunkSize of [1, 2, 3, 7, 100, stream.length]) {
      const guard = new InboundFrameGuard(limits);
      for (let i = 0; i < stream.length; i += chunkSize) expect(guard.push(stream.subarray(i, i + chunkSize))).toBeNull();
    }
  });

  test('refuses a packet one byte over the limit from its header alone', () => {
    const guard = new InboundFrameGuard(limits);
    const oversized = publish(1025);
    expect(guard.push(oversized.subarray(0, 3))).toEqual({ reason: 'PACKET_TOO_LARGE', packetBytes: 1025, limit: 1024 });
  });

  test('refuses a huge declared length before any of the body arrives', () => {
    const guard = new InboundFrameGuard(limits);
    // PUBLISH announcing 268,435,455 bytes (the MQTT maximum).
    expect(guard.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]))).toMatchObject({ reason: 'PACKET_TOO_LARGE', packetBytes: 268_435_460 });
  });

  test('refuses an oversized packet that follows good ones in the same chunk', () => {
    const guard = new InboundFrameGuard(limits);
    expect(guard.push(Buffer.concat([pingreq, publish(100), publish(2000)]))).toMatchObject({ reason: 'PACKET_TOO_LARGE' });
  });

  test('refuses a remaining length longer than four bytes', () => {
    const guard = new InboundFrameGuard({ ...limits, maxPacketBytes: 300_000_000 });
    expect(guard.push(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]))).toEqual({ reason: 'MALFORMED_LENGTH' });
  });

  test('counts SUBSCRIBE filters even when the packet arrives byte by byte', () => {
    const ok = packet(8, subscribeBody(['a', 'b']), 2);
    const tooMany = packet(8, subscribeBody(['a', 'b', 'c']), 2);
    const guard = new InboundFrameGuard(limits);
    for (const byte of ok) expect(guard.push(Buffer.from([byte]))).toBeNull();
    let verdict = null;
    for (const byte of tooMany) verdict ??= guard.push(Buffer.from([byte]));
    expect(verdict).toEqual({ reason: 'TOO_MANY_TOPICS', topics: 3, limit: 2 });
  });

  test('keeps refusing once a violation was seen', () => {
    const guard = new InboundFrameGuard(limits);
    expect(guard.push(publish(2000).subarray(0, 4))).not.toBeNull();
    expect(guard.push(pingreq)).not.toBeNull();
  });
});

describe('countSubscribeFilters', () => {
  test('counts each filter', () => {
    expect(countSubscribeFilters(subscribeBody([]))).toBe(0);
    expect(countSubscribeFilters(subscribeBody(['x', 'devices/y/down/#', 'z']))).toBe(3);
  });

  test('counts a truncated last filter (mqtt-packet refuses the packet anyway)', () => {
    const body = subscribeBody(['abc', 'def']);
    expect(countSubscribeFilters(body.subarray(0, body.length - 3))).toBe(2);
  });
});
