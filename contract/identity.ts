/**
 * The device identity format both sides agree on. A device ID is the raw X||Y coordinates of the device's P-256
 * identity public key, as 128 upper-case hex characters. The identity certificate carries the full ID in a SAN URI
 * (`urn:spheregate:device:<ID>`); its subject CN holds the first 64 characters (a CN may hold no more).
 */
export const DEVICE_ID_URI_PREFIX = 'urn:spheregate:device:';
export const DEVICE_ID_PATTERN = /^[0-9A-F]{128}$/;

/** From an uncompressed SEC1 point (0x04 || X || Y, 65 bytes) or raw X||Y (64 bytes). */
export function deviceIdFromPublicKey(point: Uint8Array): string {
  const raw = point.length === 65 && point[0] === 0x04 ? point.subarray(1) : point;
  if (raw.length !== 64) throw new Error(`expected a P-256 public point, got ${point.length} bytes`);
  return Buffer.from(raw).toString('hex').toUpperCase();
}

export const deviceIdUri = (deviceId: string): string => `${DEVICE_ID_URI_PREFIX}${deviceId}`;

export function deviceIdFromUri(uri: string): string | null {
  if (!uri.startsWith(DEVICE_ID_URI_PREFIX)) return null;
  const id = uri.slice(DEVICE_ID_URI_PREFIX.length);
  return DEVICE_ID_PATTERN.test(id) ? id : null;
}

/**
 * A device certificate issued by a tenant CA after attestation also names the tenant, in a second SAN URI
 * `urn:spheregate:tenant:<tenant ID>`, so a relying party can tell whose device it is without a lookup.
 */
export const TENANT_ID_URI_PREFIX = 'urn:spheregate:tenant:';
export const tenantIdUri = (tenantId: string): string => `${TENANT_ID_URI_PREFIX}${tenantId}`;
export function tenantIdFromUri(uri: string): string | null {
  if (!uri.startsWith(TENANT_ID_URI_PREFIX)) return null;
  const id = uri.slice(TENANT_ID_URI_PREFIX.length);
  return /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/.test(id) ? id : null;
}
