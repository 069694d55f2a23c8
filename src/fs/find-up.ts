// Files of the berth package found from a module's own location upwards: the same search works
// from tsc's dist/src/... tree, from the esbuild bundles in dist/bin/, and from node_modules/berth.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The first `<dir>/<relative>` that exists, `dir` going up from `moduleUrl`'s folder; null if none. */
export function findUp(moduleUrl: string, relative: string): string | null {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    const candidate = join(dir, relative);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}
