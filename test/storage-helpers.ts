// Helpers of the storage tests: layers written in memory, trees described for comparison.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import { TarWriter, type TarEntryInput } from '../src/tar/index.js';
import { getXattr, listXattrs } from '../src/storage/xattr.js';

export function tempDir(t: TestContext, prefix = 'berth-storage-test-'): string {
  const dir = mkdtempSync(`/tmp/${prefix}`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type LayerEntry = TarEntryInput & { body?: string | Buffer };

/** A tar made in memory from entries, in the order given. */
export async function tarOf(entries: LayerEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      parts.push(chunk);
      cb();
    },
  });
  const w = new TarWriter(sink);
  for (const { body, ...header } of entries) {
    await w.add({ mtime: 1_600_000_000, ...header }, header.type === 'file' ? body ?? '' : undefined);
  }
  await w.finish();
  return Buffer.concat(parts);
}

/**
 * One line per path under `root`: type, mode, owner, size, mtime (ms), link count, device numbers,
 * symlink target, content digest and xattrs. Two trees with the same description are the same
 * for a container.
 */
export function describeTree(root: string, opts: { skipRoot?: boolean; times?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    const path = rel ? join(root, rel) : root;
    const st = lstatSync(path);
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : 'f';
    if (!(rel === '' && opts.skipRoot)) {
      const fields = [rel || '.', kind, (st.mode & 0o7777).toString(8), `${st.uid}:${st.gid}`];
      if (kind === 'f') fields.push(String(st.size), `nlink=${st.nlink}`, execFileSync('sha256sum', [path]).toString().slice(0, 16));
      if (kind === 'l') fields.push(`-> ${execFileSync('readlink', [path]).toString().trim()}`);
      if (kind === 'c' || kind === 'b') fields.push(`${Math.floor(st.rdev / 256)},${st.rdev % 256}`);
      if (opts.times !== false && kind !== 'd') fields.push(`mtime=${Math.floor(st.mtimeMs)}`);
      if (opts.times !== false && kind === 'd') fields.push(`mtime=${Math.floor(st.mtimeMs)}`);
      for (const name of listXattrs(path).sort()) {
        if (name.startsWith('security.') && name !== 'security.capability') continue;
        fields.push(`${name}=${getXattr(path, name)!.toString('hex')}`);
      }
      out.push(fields.join(' '));
    }
    if (kind === 'd') for (const name of readdirSync(path).sort()) walk(rel ? `${rel}/${name}` : name);
  };
  walk('');
  return out;
}

/** A file's content, mode, mtime and xattrs: what must not change outside a layer. */
export function fingerprint(path: string): string {
  try {
    const st = lstatSync(path);
    const content = st.isFile() ? readFileSync(path).toString('hex') : '';
    return JSON.stringify({ mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtimeMs, size: st.size, content, x: listXattrs(path) });
  } catch (err) {
    return `missing: ${(err as Error).message}`;
  }
}

