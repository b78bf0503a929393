/**
 * The domain declares what it needs of the wire contract without importing it (domain/ imports none of our
 * folders). These tests keep the two declarations equal, so a change on one side fails here, not in the field.
 */
import { ATTESTATION_REFUSALS, AttestationStatement, ERROR_EVENT_CATEGORIES, ERROR_EVENT_KINDS } from '../contract/mqtt/messages.js';
import { CATEGORY_KINDS, ERROR_CATEGORIES } from '../domain/error-reports/error-categories.js';
import * as contractPackage from '../contract/image/package.js';
import * as domainImages from '../domain/images/image-types.js';
import * as nodeCrypto from 'node:crypto';

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

  test('on the image package: types and the bytes a signature covers', () => {
    expect([...domainImages.IMAGE_TYPES]).toEqual([...contractPackage.IMAGE_TYPES]);
    const metadata = { componentId: 'A1B2C3D4-0000-4000-8000-000000000001', name: 'thermostat', version: '1.2.3', type: 'OS' as const, sha256: 'AB'.repeat(32), size: 42 };
    expect(domainImages.signedBytes(metadata)).toEqual(contractPackage.signedBytes(metadata));
  });

  test('a package signed with the contract tools verifies in the domain, and a changed field does not', () => {
    const { generateKeyPairSync } = nodeCrypto;
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = { pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(), priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const pkg = contractPackage.makePackage({ componentId: '11111111-2222-4333-8444-555555555555', name: 'app', version: '1', type: 'Application' }, Buffer.from('payload'), pem.priv);
    expect(domainImages.verifySignature(pkg.metadata, pkg.signature, pem.pub)).toBe(true);
    expect(domainImages.verifySignature({ ...pkg.metadata, version: '2' }, pkg.signature, pem.pub)).toBe(false);
  });
});
