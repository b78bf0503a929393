/**
 * Keeps the dependency rules of ARCHITECTURE.md true: transports depend on the domain, never the reverse; the
 * device agent shares only the wire contract with the service.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const ROOT = resolve(dirname(new URL(import.meta.url).pathname), '..');
const LAYERS = ['app', 'broker', 'contract', 'device-agent', 'domain', 'infra', 'server'] as const;
type Layer = (typeof LAYERS)[number];

/** Which of our folders each layer may import (itself always allowed). */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  app: ['broker', 'contract', 'device-agent', 'domain', 'infra', 'server'],
  server: ['domain'],
  broker: ['domain', 'contract'],
  infra: ['domain', 'contract'],
  domain: [],
  contract: [],
  'device-agent': ['contract'],
};

/** Packages a layer must never import, whatever they are reached through. */
const FORBIDDEN_PACKAGES: Partial<Record<Layer, RegExp>> = {
  domain: /^(graphql|@apollo\/|aedes|mqtt|ioredis|ws$|pino|@mikro-orm\/(?!core$))/,
  contract: /^(graphql|@apollo\/|aedes|@mikro-orm\/|ioredis|pino)/,
  'device-agent': /^(graphql$|@apollo\/|aedes|@mikro-orm\/|ioredis)/,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'generated' ? [] : sourceFiles(path);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) && !name.endsWith('.suite.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(IMPORT)].map((m) => m[1] ?? m[2] ?? '').filter(Boolean);
}

function layerOf(path: string): Layer | null {
  const top = relative(ROOT, path).split(sep)[0];
  return (LAYERS as readonly string[]).includes(top ?? '') ? (top as Layer) : null;
}

describe('architecture: one-way dependencies', () => {
  const violations: string[] = [];
  for (const layer of LAYERS) {
    let files: string[] = [];
    try {
      files = sourceFiles(join(ROOT, layer));
    } catch {
      continue;
    }
    for (const file of files) {
      for (const spec of importsOf(file)) {
        const where = `${relative(ROOT, file)} imports "${spec}"`;
        if (spec.startsWith('.')) {
          const target = layerOf(resolve(dirname(file), spec));
          if (target === null) violations.push(`${where} (outside the layers)`);
          else if (target !== layer && !MAY_IMPORT[layer].includes(target)) violations.push(`${where} (${layer} -> ${target})`);
        } else if (FORBIDDEN_PACKAGES[layer]?.test(spec)) {
          violations.push(`${where} (package forbidden in ${layer})`);
        }
      }
    }
  }

  test('no layer imports a folder or package it must not', () => {
    expect(violations).toEqual([]);
  });

  test('the rules catch a violation (domain importing a transport)', () => {
    const fake = join(ROOT, 'domain', 'x.ts');
    expect(layerOf(resolve(dirname(fake), '../server/index.js'))).toBe('server');
    expect(MAY_IMPORT.domain.includes('server')).toBe(false);
    expect(FORBIDDEN_PACKAGES.domain?.test('@mikro-orm/libsql')).toBe(true);
    expect(FORBIDDEN_PACKAGES.domain?.test('@mikro-orm/core')).toBe(false);
  });
});
