import { randomUUID } from 'node:crypto';

/** Azure Sphere device IDs: 128 upper-case hex characters (here: the raw X||Y of the identity public key). */
export const DEVICE_ID_PATTERN = /^[0-9A-F]{128}$/;
export const isDeviceId = (s: string): boolean => DEVICE_ID_PATTERN.test(s);

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (s: string): boolean => UUID_PATTERN.test(s);
export const newId = (): string => randomUUID();
