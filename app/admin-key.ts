import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const ADMIN_KEY_FILE = 'admin.key';

/**
 * The platform-admin key: from SPHEREGATE_ADMIN_KEY, else `<dataDir>/admin.key`, else generated there (mode 0600).
 * `generated` tells the caller to show it once; it is never written to the log.
 */
export async function loadOrCreateAdminKey(
  dataDir: string,
  configured: string | null,
): Promise<{ key: string; file: string | null; generated: boolean }> {
  if (configured !== null) return { key: configured, file: null, generated: false };
  const file = join(dataDir, ADMIN_KEY_FILE);
  try {
    const key = (await readFile(file, 'utf8')).trim();
    if (key.length >= 32) return { key, file, generated: false };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const key = `sga_${randomBytes(32).toString('base64url')}`;
  // 'wx': never overwrite a key another process wrote in the meantime.
  await writeFile(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
  return { key, file, generated: true };
}
