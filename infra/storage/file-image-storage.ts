/**
 * Image payloads as files: `<dir>/<imageId>.bin`, written once. Staging streams into a temporary file while
 * hashing, so a large upload never sits in memory and a failed one leaves nothing behind; commit is a rename.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PayloadTooLargeError, type ImageStorage, type StagedPayload } from '../../domain/images/image-storage.port.js';

const ID = /^[0-9a-f-]{36}$/;

export class FileImageStorage implements ImageStorage {
  constructor(readonly dir: string) {}

  static async open(dir: string): Promise<FileImageStorage> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return new FileImageStorage(dir);
  }

  private pathOf(imageId: string): string {
    if (!ID.test(imageId)) throw new Error('not an image ID');
    return join(this.dir, `${imageId}.bin`);
  }

  async stage(imageId: string, source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedPayload> {
    const finalPath = this.pathOf(imageId);
    const temporary = join(this.dir, `.${imageId}.${randomBytes(6).toString('hex')}.part`);
    const hash = createHash('sha256');
    let size = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of source) {
        size += chunk.byteLength;
        if (size > maxBytes) throw new PayloadTooLargeError(maxBytes);
        hash.update(chunk);
        yield chunk;
      }
    }
    try {
      await pipeline(counted, createWriteStream(temporary, { mode: 0o600, flags: 'wx' }));
    } catch (e) {
      await rm(temporary, { force: true });
      throw e;
    }
    return {
      size,
      sha256: hash.digest('hex'),
      commit: () => rename(temporary, finalPath),
      discard: () => rm(temporary, { force: true }),
    };
  }

  read(imageId: string, range?: { readonly start: number; readonly end: number }): AsyncIterable<Uint8Array> {
    return createReadStream(this.pathOf(imageId), range ? { start: range.start, end: range.end } : {});
  }

  async exists(imageId: string): Promise<boolean> {
    try {
      return (await stat(this.pathOf(imageId))).isFile();
    } catch {
      return false;
    }
  }
}
