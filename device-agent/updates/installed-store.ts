/**
 * What a device runs: its OS (version and, once it installed one over the air, the OS image), and its application
 * and board-configuration images. The file store writes `<identity file>.installed.json` (mode 0600, replaced
 * atomically), so what a device installed over the air survives a restart, as on a real chip.
 */
import { besideIdentity, readJsonFile, writeJsonFileAtomically } from '../json-file.js';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { InstalledImage as InstalledImageSchema, type StatusReport } from '../../contract/mqtt/messages.js';

export type InstalledImage = StatusReport['installedImages'][number];

export interface InstalledState {
  readonly osVersion: string;
  /** The OS image installed over the air; null while the device runs the OS it was made with. */
  readonly osImageId: string | null;
  /** Application and board-configuration images, at most one per component. */
  readonly images: readonly InstalledImage[];
}

export interface InstalledStore {
  /** null: nothing stored yet (the device runs what it was made with). */
  load(): Promise<InstalledState | null>;
  save(state: InstalledState): Promise<void>;
}

const copy = (state: InstalledState): InstalledState => ({
  osVersion: state.osVersion,
  osImageId: state.osImageId,
  images: state.images.map((i) => ({ ...i })),
});

export class MemoryInstalledStore implements InstalledStore {
  private current: InstalledState | null = null;
  async load(): Promise<InstalledState | null> {
    return this.current === null ? null : copy(this.current);
  }
  async save(state: InstalledState): Promise<void> {
    this.current = copy(state);
  }
}

const FILE_VERSION = 1;
export const INSTALLED_FILE_SUFFIX = '.installed.json';

const InstalledFile = Type.Object(
  {
    version: Type.Literal(FILE_VERSION),
    osVersion: Type.String({ minLength: 1, maxLength: 64 }),
    osImageId: Type.Union([Type.String({ minLength: 1 }), Type.Null()]),
    images: Type.Array(InstalledImageSchema, { maxItems: 64 }),
  },
  { additionalProperties: false },
);
const checkInstalledFile = TypeCompiler.Compile(InstalledFile);

export class FileInstalledStore implements InstalledStore {
  constructor(readonly path: string) {}

  /** The installed-images store that belongs to an identity file: `<identity path without .json>.installed.json`. */
  static besideIdentity(identityPath: string): FileInstalledStore {
    return new FileInstalledStore(besideIdentity(identityPath, INSTALLED_FILE_SUFFIX));
  }

  /** A missing file is null; an unreadable one is an error (a device must not forget what it runs silently). */
  async load(): Promise<InstalledState | null> {
    const value = await readJsonFile(this.path, 'installed-images');
    if (value === null) return null;
    if (!checkInstalledFile.Check(value)) {
      const first = checkInstalledFile.Errors(value).First();
      throw new Error(`${this.path}: not an installed-images file (${first ? `${first.path || '/'}: ${first.message}` : 'bad shape'})`);
    }
    return { osVersion: value.osVersion, osImageId: value.osImageId, images: value.images };
  }

  async save(state: InstalledState): Promise<void> {
    await writeJsonFileAtomically(this.path, { version: FILE_VERSION, osVersion: state.osVersion, osImageId: state.osImageId, images: state.images });
  }
}
