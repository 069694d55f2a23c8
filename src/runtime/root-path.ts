// Reading a path inside a container's root from the host, with the root as "/": symlinks and ".."
// inside it can never lead outside (the TypeScript twin of the executor's resolve_in_root).
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** The host path that `path` names inside `root`, following symlinks within the root; missing parts are kept as given. */
export function resolveInRoot(root: string, path: string): string {
  let pending = path.split('/');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      // missing: keep the name, nothing below it can be a link
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > 40) throw Object.assign(new Error(`${path}: too many levels of symbolic links`), { code: 'ELOOP' });
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    pending = [...target.split('/'), ...pending];
  }
  return join(root, ...resolved);
}
