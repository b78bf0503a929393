/**
 * What a device sends to prove itself (contract/mqtt/PROTOCOL.md, "Attestation"): a statement of the nonce, its
 * ID, what it runs and a CSR for a NEW key, signed with the identity key. The identity key never signs anything
 * else, and the new "operational" key is what relying parties see.
 *
 * The operational key is generated extractable because node's TLS stack takes a PEM key, not a CryptoKey: an
 * emulated device keeps it in its certificate store (mode 0600), as it keeps its identity key in its identity file.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { AttestationStatement, ImageMeasurement, Payload } from './contract.js';

x509.cryptoProvider.set(webcrypto);

const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface Measurements {
  readonly osVersion: string;
  readonly images: readonly ImageMeasurement[];
}

export interface PreparedAttestation {
  /** The `up/attestation` payload. */
  readonly message: Payload<'attestation'>;
  /** PKCS#8 PEM of the new operational key the CSR is for. */
  readonly operationalKeyPem: string;
}

export async function prepareAttestation(opts: {
  readonly deviceId: string;
  readonly requestId: string;
  readonly nonce: string;
  readonly measurements: Measurements;
  /** Signs with the identity key (LoadedIdentity.sign: IEEE P1363 r||s). */
  readonly sign: (data: Uint8Array) => Promise<Uint8Array>;
}): Promise<PreparedAttestation> {
  const keys = await webcrypto.subtle.generateKey(EC_KEY, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    // The service sets the subject itself; this CN is a courtesy.
    name: [{ CN: [opts.deviceId.slice(0, 64)] }],
    keys,
    signingAlgorithm: SIGNING,
  });
  const statement: AttestationStatement = {
    v: 1,
    nonce: opts.nonce,
    deviceId: opts.deviceId,
    measurements: { osVersion: opts.measurements.osVersion, images: [...opts.measurements.images] },
    csr: `${csr.toString('pem')}\n`,
  };
  const bytes = new TextEncoder().encode(JSON.stringify(statement));
  const signature = await opts.sign(bytes);
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return {
    message: {
      v: 1,
      requestId: opts.requestId,
      statement: Buffer.from(bytes).toString('base64'),
      signature: Buffer.from(signature).toString('base64'),
    },
    operationalKeyPem: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
  };
}
