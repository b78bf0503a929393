/**
 * What a chip does at the factory: make its own P-256 identity key and a PKCS#10 request signed with it (the
 * signature proves to the service that the requester holds the key).
 */
// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { deviceIdFromPublicKey } from '../contract/identity.js';

x509.cryptoProvider.set(webcrypto);

export interface NewDeviceKey {
  readonly deviceId: string;
  /** PKCS#8 PEM: written to the identity file only (see identity.ts for why an emulated chip keeps it there). */
  readonly privateKeyPem: string;
  readonly csrPem: string;
}

export async function createDeviceKey(): Promise<NewDeviceKey> {
  // Extractable once, because the emulated chip must persist it to its identity file; loadIdentity() later
  // imports it non-extractable.
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const deviceId = deviceIdFromPublicKey(new Uint8Array(await webcrypto.subtle.exportKey('raw', keys.publicKey)));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // The service derives the ID from the key and sets the subject itself; this CN is only a courtesy.
    name: [{ CN: [deviceId.slice(0, 64)] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { deviceId, privateKeyPem: pem(pkcs8, 'PRIVATE KEY'), csrPem: `${csr.toString('pem')}\n` };
}

const pem = (der: ArrayBuffer, label: string): string => `${x509.PemConverter.encode(der, label)}\n`;
