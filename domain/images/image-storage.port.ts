/**
 * Where image payloads live: a folder of the data dir by default (infra/storage), object storage later. Payloads
 * are written once under the image's ID and never changed.
 */
export interface StagedPayload {
  readonly size: number;
  /** Lower-case hex. */
  readonly sha256: string;
  /** Makes the staged bytes the payload of `imageId` (atomic). */
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export interface ImageStorage {
  /** Streams the bytes into a staging area, hashing them; fails (and discards) past maxBytes. */
  stage(imageId: string, source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedPayload>;
  /** The payload's bytes from `start` to `end` inclusive (whole when omitted). */
  read(imageId: string, range?: { readonly start: number; readonly end: number }): AsyncIterable<Uint8Array>;
  exists(imageId: string): Promise<boolean>;
}

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
  constructor(readonly maxBytes: number) {
    super(`the payload is larger than ${maxBytes} bytes`);
  }
}

/** For a service built without storage (some tests): every use fails loudly. */
export const unavailableImageStorage: ImageStorage = {
  stage: () => Promise.reject(new Error('no image storage is configured')),
  read: () => {
    throw new Error('no image storage is configured');
  },
  exists: () => Promise.resolve(false),
};
