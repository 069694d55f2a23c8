// What a container changed: its overlay upper dir read against the image's layers, as
// `docker diff` lists it, and written back as an OCI layer (`docker commit`), overlay's
// whiteouts turned into `.wh.` entries again.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { TarWriter } from '../tar/writer.js';
import { statHeader, TreeArchiver, walkTree } from './archive.js';
import { getXattr, OPAQUE_XATTR } from './xattr.js';

export type ChangeKind = 'A' | 'C' | 'D';

export interface Change {
  kind: ChangeKind;
  /** Absolute inside the container: "/etc/passwd". */
  path: string;
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** overlayfs' whiteout: a character device 0/0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(path: string): boolean {
  const v = getXattr(path, OPAQUE_XATTR);
  return v !== null && v.length === 1 && v[0] === 0x79; // 'y'
}

/**
 * The image's view of a path, as overlayfs would show it from the lower dirs alone (top first):
 * its stat, or null when no layer has it or a layer above hides it (whiteout, opaque dir,
 * a non-directory in place of a parent).
 */
export class LowerView {
  constructor(private readonly lowerDirs: string[]) {}

  /** Whether `layer`, which lacks `rel`, hides what the layers below have there: a parent of it is a non-directory (a whiteout, a file) or opaque. */
  private hidesBelow(layer: string, rel: string): boolean {
    const parts = rel.split('/');
    let dir = layer;
    for (let i = 0; i < parts.length - 1; i += 1) {
      dir = join(dir, parts[i]!);
      const st = lstatOrNull(dir);
      if (!st) return false;
      if (!st.isDirectory() || isOpaque(dir)) return true;
    }
    return false;
  }

  stat(rel: string): Stats | null {
    for (const layer of this.lowerDirs) {
      const st = lstatOrNull(join(layer, rel));
      if (st) return isWhiteout(st) ? null : st;
      if (this.hidesBelow(layer, rel)) return null;
    }
    return null;
  }

  /** The names under a directory of the lower view (merged over the layers, whiteouts applied). */
  list(rel: string): string[] {
    const seen = new Set<string>();
    const hidden = new Set<string>();
    for (const layer of this.lowerDirs) {
      const dir = join(layer, rel);
      const st = lstatOrNull(dir);
      if (!st) {
        if (this.hidesBelow(layer, rel)) break;
        continue;
      }
      if (!st.isDirectory()) break;
      for (const name of readdirSync(dir)) {
        if (seen.has(name) || hidden.has(name)) continue;
        const child = lstatOrNull(join(dir, name));
        if (child && isWhiteout(child)) hidden.add(name);
        else seen.add(name);
      }
      if (isOpaque(dir)) break;
    }
    return [...seen].sort();
  }
}

function sameDirMeta(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid && Math.floor(a.mtimeMs / 1000) === Math.floor(b.mtimeMs / 1000);
}

/**
 * The changes of an upper dir over its lower dirs (top first), sorted by path, as `docker diff`:
 * a whiteout is D; an opaque directory's hidden lower content is D; a path the image had is C,
 * a new one A; a directory that exists below with the same metadata is listed only when
 * something under it changed, and every parent directory of a change is C.
 */
export function diffUpper(upperDir: string, lowerDirs: string[]): Change[] {
  const lower = new LowerView(lowerDirs);
  const changes = new Map<string, ChangeKind>();
  /** Upper directories that are opaque: the lower view beneath them is empty. */
  const opaque: string[] = [];
  const underOpaque = (rel: string): boolean => opaque.some((o) => rel.startsWith(`${o}/`));
  const lowerStat = (rel: string): Stats | null => (underOpaque(rel) ? null : lower.stat(rel));

  walkTree(upperDir, (rel, st) => {
    const below = lowerStat(rel);
    if (isWhiteout(st)) {
      if (below) changes.set(rel, 'D');
      return;
    }
    if (st.isDirectory() && isOpaque(join(upperDir, rel))) {
      if (below && below.isDirectory()) {
        changes.set(rel, 'C');
        const present = new Set(readdirSync(join(upperDir, rel)));
        for (const name of lower.list(rel)) if (!present.has(name)) changes.set(`${rel}/${name}`, 'D');
      } else {
        changes.set(rel, below ? 'C' : 'A');
      }
      opaque.push(rel);
      return;
    }
    if (!below) changes.set(rel, 'A');
    else if (!(st.isDirectory() && below.isDirectory() && sameDirMeta(st, below))) changes.set(rel, 'C');
  });

  // Parents of changes are changed too (docker lists them so a change is never orphaned).
  for (const rel of [...changes.keys()]) {
    let slash = rel.lastIndexOf('/');
    while (slash > 0) {
      const parent = rel.slice(0, slash);
      if (!changes.has(parent)) changes.set(parent, lowerStat(parent) ? 'C' : 'A');
      slash = parent.lastIndexOf('/');
    }
  }
  return [...changes.entries()]
    .map(([rel, kind]) => ({ kind, path: `/${rel}` }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export interface LayerFromUpper {
  /** sha256 of the uncompressed layer tar. */
  diffID: string;
  /** Bytes of uncompressed tar. */
  bytes: number;
}

/**
 * Writes the upper dir as an OCI layer into `out` and finishes it: whiteouts become `.wh.NAME`
 * (only where the image has something to hide), an opaque dir is followed by its
 * `.wh..wh..opq`, hardlinks within the upper dir stay hardlinks, sockets are skipped, and
 * overlay's own xattrs are left out. Entries are in sorted order, so the same upper dir always
 * gives the same diffID.
 */
export async function writeLayerFromUpper(upperDir: string, lowerDirs: string[], out: TarWriter): Promise<LayerFromUpper> {
  const lower = new LowerView(lowerDirs);
  const opaque: string[] = [];
  const underOpaque = (rel: string): boolean => opaque.some((o) => rel.startsWith(`${o}/`));
  const entries: Array<[string, Stats]> = [];
  walkTree(upperDir, (rel, st) => entries.push([rel, st]));
  const archiver = new TreeArchiver(out, upperDir);
  for (const [rel, st] of entries) {
    const path = join(upperDir, rel);
    if (isWhiteout(st)) {
      if (underOpaque(rel) || lower.stat(rel) === null) continue;
      const slash = rel.lastIndexOf('/');
      const name = slash < 0 ? `.wh.${rel}` : `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`;
      await out.add({ ...statHeader(st), name, type: 'file', mode: 0o600 }, Buffer.alloc(0));
      continue;
    }
    await archiver.add(rel, st);
    if (st.isDirectory() && isOpaque(path)) {
      opaque.push(rel);
      await out.add({ ...statHeader(st), mode: st.mode & 0o777, name: `${rel}/.wh..wh..opq`, type: 'file' }, Buffer.alloc(0));
    }
  }
  const { digest, bytes } = await out.finish();
  return { diffID: digest, bytes };
}
