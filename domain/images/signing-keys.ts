/** Signing keys: made with a tenant (the private key handed out once), or registered later by an Administrator. */
import { generateKeyPairSync } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/core';
import { badInput } from '../shared/errors.js';
import { newId } from '../shared/ids.js';
import { refuseNul } from '../shared/validation.js';
import type { SigningKeyView } from '../views.js';
import { SigningKey, type SigningKeyEntity } from './image.entities.js';
import { p256Fingerprint } from './image-types.js';

export const FIRST_SIGNING_KEY_NAME = 'Default signing key';

export const toSigningKeyView = (k: SigningKeyEntity): SigningKeyView => ({
  id: k.id,
  tenantId: k.tenant ?? null,
  name: k.name,
  publicKeyPem: k.publicKeyPem,
  fingerprint: k.fingerprint,
  createdAt: k.createdAt,
});

/** A new P-256 key pair: the public half stored, the private half returned (PKCS#8 PEM) and forgotten. */
export function newSigningKey(em: EntityManager, tenantId: string | null, name: string, now: Date): { key: SigningKeyEntity; privateKeyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const key = em.create(SigningKey, { id: newId(), tenant: tenantId, name, publicKeyPem, fingerprint: p256Fingerprint(publicKeyPem) ?? '', createdAt: now });
  return { key, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

export function registeredSigningKey(em: EntityManager, tenantId: string | null, name: string, publicKeyPem: string, now: Date): SigningKeyEntity {
  // The PEM reader ignores what follows the key, a NUL included: refused here, or it would fail to be stored.
  refuseNul('publicKeyPem', publicKeyPem);
  const fingerprint = p256Fingerprint(publicKeyPem);
  if (fingerprint === null) throw badInput('publicKeyPem', 'must be a P-256 public key (SPKI PEM)');
  return em.create(SigningKey, { id: newId(), tenant: tenantId, name, publicKeyPem: publicKeyPem.trim() + '\n', fingerprint, createdAt: now });
}
