import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Device } from '../devices/device.entity.js';

/** A challenge handed to one device: usable once (usedAt set atomically), until expiresAt. */
export const AttestationNonce = defineEntity({
  name: 'AttestationNonce',
  tableName: 'attestation_nonce',
  properties: {
    nonce: p.string().length(43).primary(),
    device: p.manyToOne(Device).mapToPk(),
    issuedAt: p.datetime(),
    expiresAt: p.datetime(),
    usedAt: p.datetime().nullable(),
  },
  indexes: [{ properties: ['device', 'expiresAt'] }],
});

export type AttestationNonceEntity = InferEntity<typeof AttestationNonce>;
