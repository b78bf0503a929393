/**
 * Manufacturing: each CSR is checked and signed by the PKI, then the device is registered. One bad CSR or
 * duplicate device never fails the batch: results come back per input position.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { DeviceIdentity, Pki } from '../pki/pki.port.js';
import { isDomainError } from '../shared/errors.js';
import { chunks, isUniqueViolation } from '../shared/persistence.js';
import type { ManufactureResult } from '../views.js';
import { Device } from './device.entity.js';

const DUPLICATE = 'A device with this ID is already registered';

export async function manufactureDevices(
  em: EntityManager,
  pki: Pki,
  now: Date,
  csrPems: readonly string[],
): Promise<ManufactureResult[]> {
  const results: ManufactureResult[] = [];
  const issued = new Map<number, DeviceIdentity>();
  for (const [index, csr] of csrPems.entries()) {
    try {
      if (typeof csr !== 'string') throw new TypeError('not a string');
      issued.set(index, await pki.issueIdentityCertificate(csr));
    } catch (e) {
      // The PKI reports a bad CSR as BAD_USER_INPUT; anything else (key store down, …) is not the caller's fault.
      if (isDomainError(e) && e.code === 'BAD_USER_INPUT') {
        results[index] = { ok: false, index, code: 'BAD_USER_INPUT', message: e.message };
      } else if (e instanceof TypeError) {
        results[index] = { ok: false, index, code: 'BAD_USER_INPUT', message: 'csr: must be a PEM string' };
      } else {
        throw e;
      }
    }
  }

  const known = await existingIds(em, [...issued.values()].map((d) => d.deviceId));
  const toInsert: Array<{ index: number; identity: DeviceIdentity }> = [];
  for (const [index, identity] of issued) {
    // The same key twice in one batch is a duplicate too: the first occurrence wins.
    if (known.has(identity.deviceId)) {
      results[index] = { ok: false, index, code: 'CONFLICT', message: DUPLICATE };
      continue;
    }
    known.add(identity.deviceId);
    toInsert.push({ index, identity });
  }

  const inserted = await insertDevices(em, toInsert.map((t) => t.identity), now);
  for (const { index, identity } of toInsert) {
    results[index] = inserted.has(identity.deviceId)
      ? { ok: true, deviceId: identity.deviceId, certificatePem: identity.certificatePem }
      : { ok: false, index, code: 'CONFLICT', message: DUPLICATE };
  }
  return results;
}

async function existingIds(em: EntityManager, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const part of chunks(ids, 500)) {
    const rows = await em.find(Device, { id: { $in: part } }, { fields: ['id'] });
    for (const r of rows) found.add(r.id);
  }
  return found;
}

const rowOf = (d: DeviceIdentity, now: Date) => ({
  id: d.deviceId,
  publicKeyHex: `04${d.deviceId}`,
  certificatePem: d.certificatePem,
  certificateSerialNumber: d.serialNumber,
  certificateNotBefore: d.notBefore,
  certificateNotAfter: d.notAfter,
  certificateSubject: d.subject,
  certificateIssuer: d.issuer,
  certificateSha256: d.sha256Thumbprint.toUpperCase(),
  manufacturedAt: now,
  tenant: null,
  claimedAt: null,
  product: null,
  deviceGroup: null,
  revokedAt: null,
  online: false,
  lastSeenAt: null,
  connectedSince: null,
  connectionSeq: 0,
  brokerNodeId: null,
  remoteAddress: null,
  osVersion: null,
  uptimeSeconds: null,
  installedImages: null,
  statusReportedAt: null,
});

/** Inserts in bulk; if a concurrent call registered one of them meanwhile, falls back to one by one. */
async function insertDevices(em: EntityManager, identities: readonly DeviceIdentity[], now: Date): Promise<Set<string>> {
  const inserted = new Set<string>();
  for (const part of chunks(identities, 100)) {
    try {
      await em.insertMany(Device, part.map((d) => rowOf(d, now)));
      for (const d of part) inserted.add(d.deviceId);
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
      for (const d of part) {
        try {
          await em.insert(Device, rowOf(d, now));
          inserted.add(d.deviceId);
        } catch (inner) {
          if (!isUniqueViolation(inner)) throw inner;
        }
      }
    }
  }
  return inserted;
}
