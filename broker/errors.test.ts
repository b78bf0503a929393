import { DomainError, ERROR_CODES, badInput, conflict, forbidden, notFound, unauthenticated } from '../domain/shared/errors.js';
import { DEVICE_ERROR_CODES } from '../contract/mqtt/messages.js';
import { deviceFacingError } from './errors.js';

test.each([
  [badInput('osVersion', 'too long'), 'BAD_PAYLOAD'],
  [conflict('stale report'), 'BAD_PAYLOAD'],
  [forbidden(), 'FORBIDDEN'],
  [unauthenticated(), 'FORBIDDEN'],
  [notFound('Device', 'x'), 'FORBIDDEN'],
])('a domain refusal %p is told to the device as %s', (error, code) => {
  expect(deviceFacingError(error)).toEqual({ code, message: error.message });
});

test('internal and unknown errors are not the device\'s business', () => {
  expect(deviceFacingError(new DomainError('INTERNAL_SERVER_ERROR', 'db down'))).toBeNull();
  expect(deviceFacingError(new Error('boom'))).toBeNull();
  expect(deviceFacingError('a string')).toBeNull();
});

test('every domain code maps to a device code or to "internal"', () => {
  for (const code of ERROR_CODES) {
    const facing = deviceFacingError(new DomainError(code, 'x'));
    if (facing !== null) expect(DEVICE_ERROR_CODES).toContain(facing.code);
  }
});

test('long domain messages are cut to what ErrorReply allows', () => {
  expect(deviceFacingError(badInput('f', 'x'.repeat(1000)))?.message).toHaveLength(500);
});
