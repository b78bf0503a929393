/**
 * The SDL files in schema/ are the GraphQL contract; the gateway reads them at start. The folder is found by
 * walking up from this module to the package root (the folder with package.json and schema/), so the same code
 * works from the TypeScript sources under Jest (server/schema/) and from the build (dist/server/schema/).
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function findSchemaDir(fromUrl: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(fromUrl));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'schema'))) return join(dir, 'schema');
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no schema/ folder next to a package.json above ${fileURLToPath(fromUrl)}`);
    dir = parent;
  }
}

/** Every *.graphql file of the folder, in name order (common.graphql defines the root types the others extend). */
export async function loadSdl(schemaDir: string = findSchemaDir()): Promise<string[]> {
  const names = (await readdir(schemaDir)).filter((n) => n.endsWith('.graphql')).sort();
  if (names.length === 0) throw new Error(`no .graphql files in ${schemaDir}`);
  return Promise.all(names.map((n) => readFile(join(schemaDir, n), 'utf8')));
}
