import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileInstalledStore, MemoryInstalledStore, type InstalledState } from './installed-store.js';

const state: InstalledState = {
  osVersion: '25.1.0',
  osImageId: '0f0e0d0c-0b0a-4908-8706-050403020100',
  images: [
    {
      componentId: '11111111-2222-4333-8444-555555555555',
      imageId: '66666666-7777-4888-9999-aaaaaaaaaaaa',
      name: 'thermostat',
      version: '2.0.0',
      sha256: 'ab'.repeat(32),
    },
  ],
};

describe('MemoryInstalledStore', () => {
  it('holds nothing at first, then what was saved, as a copy', async () => {
    const store = new MemoryInstalledStore();
    expect(await store.load()).toBeNull();
    const saved = { ...state, images: [...state.images] };
    await store.save(saved);
    saved.images.pop();
    expect(await store.load()).toEqual(state);
  });
});

describe('FileInstalledStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spheregate-installed-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lives beside the identity file', () => {
    expect(FileInstalledStore.besideIdentity('/devices/ABC.json').path).toBe('/devices/ABC.installed.json');
    expect(FileInstalledStore.besideIdentity('/devices/ABC').path).toBe('/devices/ABC.installed.json');
  });

  it('reads null when no file exists yet', async () => {
    expect(await new FileInstalledStore(join(dir, 'none.installed.json')).load()).toBeNull();
  });

  it('survives a restart: a new store on the same file reads what the last one saved, replaced whole, mode 0600', async () => {
    const path = join(dir, 'device.installed.json');
    await new FileInstalledStore(path).save({ osVersion: '24.10', osImageId: null, images: [] });
    await new FileInstalledStore(path).save(state);

    expect(await new FileInstalledStore(path).load()).toEqual(state);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(path, 'utf8'))).toMatchObject({ version: 1, osVersion: '25.1.0' });
    // The replacement went through a temporary file that is gone.
    expect(await readdir(dir)).toEqual(['device.installed.json']);
  });

  it('When the file is not an installed-images file, then loading fails naming the file rather than forgetting what runs', async () => {
    const path = join(dir, 'device.installed.json');
    await writeFile(path, 'not json');
    await expect(new FileInstalledStore(path).load()).rejects.toThrow(`${path}: the installed-images file is not valid JSON`);
    await writeFile(path, JSON.stringify({ version: 1, osVersion: '24.10', osImageId: null, images: [{ imageId: 'x' }] }));
    await expect(new FileInstalledStore(path).load()).rejects.toThrow(/not an installed-images file \(\/images\/0/);
  });
});
