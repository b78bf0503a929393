/**
 * The device's small persistent files (certificate, error queue, installed images): JSON beside the identity
 * file, mode 0600, replaced atomically (write a temporary file, then rename), so a crash mid-write leaves the old
 * contents, never half of the new.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, writeFile } from 'node:fs/promises';

const FILE_MODE = 0o600;

/** `<identity path without .json><suffix>`: where a device keeps a file of its own. */
export const besideIdentity = (identityPath: string, suffix: string): string => `${identityPath.replace(/\.json$/, '')}${suffix}`;

/** The parsed file; null when it does not exist. A file that is not JSON is an error naming it. */
export async function readJsonFile(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (typeof e === 'object' && e !== null && Reflect.get(e, 'code') === 'ENOENT') return null;
    throw e;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${path}: the ${what} file is not valid JSON`);
  }
}

export async function writeJsonFileAtomically(path: string, value: unknown): Promise<void> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, `${JSON.stringify(value, null, 2)}\n`, { mode: FILE_MODE, flag: 'wx' });
    await chmod(temporary, FILE_MODE);
    await rename(temporary, path);
  } catch (e) {
    await rm(temporary, { force: true });
    throw e;
  }
}
