import { generateKeyPairSync, type KeyObject } from 'node:crypto';

/** A real P-256 key pair as a device holds one: the private key, and the public point as the domain stores it. */
export function newDeviceKey(): { privateKey: KeyObject; pointHex: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const jwk = publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from(String(jwk.x), 'base64url'), Buffer.from(String(jwk.y), 'base64url')]);
  return { privateKey, pointHex: `04${point.toString('hex').toUpperCase()}` };
}
