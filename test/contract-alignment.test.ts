/**
 * The domain declares what it needs of the wire contract without importing it (domain/ imports none of our
 * folders). These tests keep the two declarations equal, so a change on one side fails here, not in the field.
 */
import { ATTESTATION_REFUSALS, AttestationStatement, ERROR_EVENT_CATEGORIES, ERROR_EVENT_KINDS } from '../contract/mqtt/messages.js';
import { CATEGORY_KINDS, ERROR_CATEGORIES } from '../domain/error-reports/error-categories.js';
import { Statement } from '../domain/certificates/attestation-statement.js';
import type { AttestationRefusalReason } from '../domain/views.js';

describe('domain and MQTT contract agree', () => {
  test('on the attestation statement schema', () => {
    expect(JSON.parse(JSON.stringify(Statement))).toEqual(JSON.parse(JSON.stringify(AttestationStatement)));
  });

  test('on the attestation refusal reasons', () => {
    // Exhaustive both ways: a reason the domain may return that the contract lacks fails to compile here.
    const domainReasons: Record<AttestationRefusalReason, true> = {
      BAD_STATEMENT: true,
      NONCE_INVALID: true,
      NONCE_EXPIRED: true,
      NONCE_REPLAYED: true,
      BAD_SIGNATURE: true,
      BAD_CSR: true,
      MEASUREMENT_NOT_ALLOWED: true,
      DEVICE_UNCLAIMED: true,
      DEVICE_REVOKED: true,
      RATE_LIMITED: true,
    };
    expect(Object.keys(domainReasons).sort()).toEqual([...ATTESTATION_REFUSALS].sort());
  });

  test('on the error event categories, their type and class', () => {
    expect([...ERROR_CATEGORIES]).toEqual([...ERROR_EVENT_CATEGORIES]);
    const contract = Object.fromEntries(Object.entries(ERROR_EVENT_KINDS).map(([c, k]) => [c, { eventType: k.type, eventClass: k.eventClass }]));
    expect(contract).toEqual(CATEGORY_KINDS);
  });
});
