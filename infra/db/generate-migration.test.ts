import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_DATABASES } from '../../test/db.js';
import { generateMigration } from './generate-migration.js';

describe.each(TEST_DATABASES)('the migration generator on %s', (kind) => {
  test('finds nothing to generate while the committed migrations match the entities', async () => {
    const root = await mkdtemp(join(tmpdir(), 'spheregate-migrations-'));
    try {
      expect(await generateMigration({ kind, name: 'nothing', migrationsRoot: root })).toBeNull();
      expect(await readdir(root)).toEqual([]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('refuses a name that would not make a valid class name', async () => {
    await expect(generateMigration({ kind, name: 'add-column', migrationsRoot: '/nonexistent' })).rejects.toThrow(/letters, digits/);
  });
});
