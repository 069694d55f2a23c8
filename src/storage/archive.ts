// A directory tree written as tar entries: the part that `commit` (an upper dir as a layer) and
// `export` (a container's merged rootfs) share. Sorted order, so the same tree gives the same bytes.
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { TarEntryInput, TarWriter, TarWriterResult } from '../tar/writer.js';
import { getXattr, layerKeepsXattr, listXattrs } from './xattr.js';

/** glibc's major()/minor() of a dev_t. */
export function devMajor(dev: number): number {
  return ((Math.floor(dev / 0x100) & 0xfff) | (Math.floor(dev / 0x100000000) & 0xfffff000)) >>> 0;
}

export function devMinor(dev: number): number {
  return ((dev & 0xff) | (Math.floor(dev / 0x1000) & 0xffffff00)) >>> 0;
}

/** Walks a tree in sorted order, parents before children, with paths relative to `root`. */
export function walkTree(root: string, visit: (rel: string, st: Stats) => void): void {
  const go = (rel: string): void => {
    const dir = rel ? join(root, rel) : root;
    for (const name of readdirSync(dir).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, childRel));
      visit(childRel, st);
      if (st.isDirectory()) go(childRel);
    }
  };
  go('');
}

/** The xattrs a layer keeps (see layerKeepsXattr). */
export function layerXattrsOf(path: string): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const name of listXattrs(path)) {
    if (!layerKeepsXattr(name)) continue;
    const v = getXattr(path, name);
    if (v !== null) out[name] = v;
  }
  return out;
}

/** Owner, mode and time of a tar entry from a stat (times in whole seconds, as ustar keeps them). */
export function statHeader(st: Stats): Pick<TarEntryInput, 'uid' | 'gid' | 'mode' | 'mtime'> {
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
}

/**
 * Writes the entries of one tree into a TarWriter: files streamed from disk, hardlinks within the
 * tree kept as hardlinks (the first path met is the file), devices, fifos, symlinks, xattrs.
 * Sockets are skipped, as docker skips them.
 */
export class TreeArchiver {
  private readonly links = new Map<string, string>();

  constructor(
    private readonly out: TarWriter,
    private readonly root: string,
  ) {}

  async add(rel: string, st: Stats): Promise<void> {
    const path = join(this.root, rel);
    const base = { ...statHeader(st), name: rel };
    if (st.isDirectory()) {
      await this.out.add({ ...base, type: 'dir', xattrs: layerXattrsOf(path) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? this.links.get(key) : undefined;
      if (first !== undefined) {
        await this.out.add({ ...base, type: 'hardlink', linkname: first });
        return;
      }
      if (st.nlink > 1) this.links.set(key, rel);
      await this.out.addFile({ ...base, type: 'file', size: st.size, xattrs: layerXattrsOf(path) }, path);
    } else if (st.isSymbolicLink()) {
      await this.out.add({ ...base, type: 'symlink', linkname: readlinkSync(path), xattrs: layerXattrsOf(path) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const type = st.isCharacterDevice() ? 'char' : 'block';
      await this.out.add({ ...base, type, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev), xattrs: layerXattrsOf(path) });
    } else if (st.isFIFO()) {
      await this.out.add({ ...base, type: 'fifo', xattrs: layerXattrsOf(path) });
    }
  }
}

/**
 * A whole directory as a tar (`berth export` of a merged rootfs, `import` tests): every entry
 * below `dir`, sorted, then the end of the archive. Returns the bytes and sha256 of the tar.
 */
export async function writeDirectoryTar(dir: string, out: TarWriter): Promise<TarWriterResult> {
  const entries: Array<[string, Stats]> = [];
  walkTree(dir, (rel, st) => entries.push([rel, st]));
  const archiver = new TreeArchiver(out, dir);
  for (const [rel, st] of entries) await archiver.add(rel, st);
  return out.finish();
}
