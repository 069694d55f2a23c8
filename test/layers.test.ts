// berth's layers, held: every import in src/ goes to a layer its own may use (docs/architecture.md,
// "Layers"), so that no import runs back up and no two layers import each other. A new import
// that breaks the order fails here, naming the file and what it imports.

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

/** The project root: this file runs from dist/test/. */
const SRC = fileURLToPath(new URL('../../src/', import.meta.url));

/**
 * What each layer may import, lowest first. A layer is a folder of src/ (or one of the files at
 * its top, named without .ts); importing within one's own layer is always allowed.
 */
export const MAY_IMPORT: Record<string, string[]> = {
  oci: [],
  errors: [],
  units: [],
  fs: ['errors'],
  tar: ['errors'],
  kernel: ['errors', 'fs'],
  explain: ['kernel'],
  cgroups: ['errors', 'explain', 'kernel', 'oci'],
  runtime: ['cgroups', 'errors', 'explain', 'fs', 'kernel', 'oci'],
  image: ['errors', 'fs', 'kernel', 'oci', 'tar', 'units'],
  storage: ['errors', 'kernel', 'tar'],
  engine: ['cgroups', 'errors', 'explain', 'fs', 'image', 'kernel', 'oci', 'runtime', 'storage', 'tar', 'units'],
  build: ['engine', 'errors', 'fs', 'image', 'kernel', 'oci', 'storage', 'tar', 'units'],
  api: ['build', 'cgroups', 'engine', 'errors', 'image', 'kernel', 'oci', 'units'],
  tour: ['cgroups', 'engine', 'errors', 'explain', 'image', 'kernel', 'oci', 'runtime', 'storage', 'tar'],
  cli: ['api', 'build', 'cgroups', 'engine', 'errors', 'image', 'kernel', 'oci', 'runtime', 'tour', 'units'],
  index: ['cgroups', 'explain', 'kernel', 'oci', 'runtime'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(path: string): string {
  const [first] = relative(SRC, path).split('/');
  return first.replace(/\.(ts|js)$/, '');
}

test('every import in src/ goes down the layers', () => {
  const files = sources(SRC);
  assert.ok(files.length > 100, 'src/ read');
  const wrong: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    assert.ok(from in MAY_IMPORT, `${relative(SRC, file)}: src/${from} is no layer of the table: place it`);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/gm)) {
      const to = layerOf(normalize(join(dirname(file), m[1])));
      if (to !== from && !MAY_IMPORT[from].includes(to)) wrong.push(`${relative(SRC, file)} imports ${m[1]} (src/${from} may not import src/${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('the table itself has no circle: each layer imports only layers listed before it', () => {
  const order = Object.keys(MAY_IMPORT);
  for (const [layer, below] of Object.entries(MAY_IMPORT)) {
    for (const other of below) assert.ok(order.indexOf(other) < order.indexOf(layer), `${layer} may import ${other}, which is not below it`);
  }
});
