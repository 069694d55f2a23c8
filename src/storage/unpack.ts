// The layer applier: a layer tar (plain, gzip or zstd) unpacked into its own directory, OCI
// whiteouts turned into overlayfs' form, nothing ever written outside the target.
//
// Safety, following containerd's applier:
// - an entry name is joined to the root and cleaned; one that climbs out ("../x", "a/../../x") is
//   refused. A leading "/" is dropped ("/etc/x" is etc/x), as docker and containerd do;
// - a parent path is resolved inside the root, as securejoin does: a symlink met on the way is
//   read and followed with the root as "/", so "dir -> /etc" then "dir/x" writes ROOT/etc/x;
//   the final component is never followed (an existing entry there is replaced, not written through);
// - whiteouts and hardlink targets never go through a symlinked parent at all: refused;
// - metadata is set with l* calls or through the fd of the file just created (O_EXCL|O_NOFOLLOW).
// The target must be private to the applier while it runs (berth unpacks into a fresh temp dir):
// the directories it checked are remembered, not checked again for each entry.
//
// Speed: the tar parser pushes entries synchronously and files are written with sync calls on
// an fd opened once per file: no promise per entry, one per input chunk. Decompression and the
// diffID's sha256 run in a worker thread (src/tar/offload.ts), ahead of the applier.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join } from 'node:path';
import { describeErrno } from '../kernel/errors.js';
import { native } from '../kernel/native.js';
import type { ByteSource } from '../tar/compression.js';
import { TarError, type TarHeader } from '../tar/header.js';
import { uncompressedWithDigest } from '../tar/offload.js';
import { TarParser, type TarSink } from '../tar/parser.js';
import { layerKeepsXattr, OPAQUE_XATTR } from './xattr.js';
import { BerthError, type ErrorKind } from '../errors.js';

export interface ApplyLayerOptions {
  /** The layer's digest as the manifest names it, for error messages ("layer sha256:..."). */
  digest?: string;
  /** When given, the sha256 of the uncompressed stream must be this ("sha256:..."). */
  expectedDiffID?: string;
  /** Set owners from the tar (default: when running as root). */
  preserveOwners?: boolean;
}

export interface ApplyLayerResult {
  /** Bytes of uncompressed tar read. */
  bytes: number;
  /** Entries applied (files, dirs, links, devices, whiteouts). */
  files: number;
  /** sha256 of the uncompressed tar stream, "sha256:...". */
  diffID: string;
}

/** A layer that could not be applied; the message is one line naming the layer and the entry. */
export class LayerError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  /** The entry's name as the tar gave it, when one entry is at fault. */
  readonly entry: string | undefined;
  readonly reason: string;
  constructor(layer: string, entry: string | undefined, reason: string, options?: { cause?: unknown }) {
    super(`${layer}: ${entry === undefined ? '' : `entry ${JSON.stringify(entry)}: `}${reason}`, options);
    this.name = 'LayerError';
    this.entry = entry;
    this.reason = reason;
  }
}

/** An entry refused on its own terms (not a failed syscall). */
class Refused extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC
const MAX_SYMLINKS = 40;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function processUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    if (m) return parseInt(m[1]!, 8);
  } catch {
    // fall through
  }
  return 0o022;
}

/** The name joined to "/" and cleaned; null when it climbs above the root. */
export function cleanLayerPath(name: string): string | null {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return null;
      parts.pop();
    } else {
      parts.push(c);
    }
  }
  return parts.join('/');
}

function errnoOf(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/** "open: ENOSPC (no space left on device)" from a Node fs or addon error. */
function describeSyscallError(err: unknown): string {
  const e = err as { errno?: number; syscall?: string; code?: string; message?: string };
  if (typeof e?.errno === 'number' && e.syscall) {
    const { name, text } = describeErrno(Math.abs(e.errno));
    return `${e.syscall}: ${name} (${text})`;
  }
  return e?.message ?? String(err);
}

class Applier implements TarSink {
  files = 0;
  /** Layer-relative paths known to be real directories (not symlinks). '' is the root. */
  private readonly realDirs = new Set<string>(['']);
  /** Directory mtimes, set at the end (creating entries inside changes them). */
  private readonly dirTimes = new Map<string, number>();
  private fd = -1;
  /** The entry being applied, for error messages. */
  current: TarHeader | null = null;
  private path = '';
  private readonly umask = processUmask();
  private readonly owners: boolean;

  constructor(
    private readonly root: string,
    owners: boolean,
  ) {
    this.owners = owners;
  }

  entry(h: TarHeader): void {
    this.files += 1;
    this.current = h;
    this.begin(h);
  }

  data(chunk: Buffer): void {
    if (this.fd < 0) return;
    let off = 0;
    while (off < chunk.length) off += writeSync(this.fd, chunk, off, chunk.length - off);
  }

  entryEnd(): void {
    if (this.fd < 0) return;
    const h = this.current!;
    const fd = this.fd;
    if (this.owners && (h.uid !== 0 || h.gid !== 0)) fchownSync(fd, h.uid, h.gid);
    // chown clears setuid/setgid, and open's mode went through the umask: chmod when either matters.
    if ((h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0) fchmodSync(fd, h.mode & 0o7777);
    this.setXattrs(this.path, h, 'file'); // after chown, which drops security.capability
    futimesSync(fd, h.mtime, h.mtime);
    this.fd = -1;
    closeSync(fd);
  }

  /** Directory times, once every entry is in place. */
  finish(): void {
    for (const [rel, mtime] of this.dirTimes) {
      try {
        lutimesSync(this.abs(rel), mtime, mtime);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
      }
    }
  }

  abort(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already failing
      }
      this.fd = -1;
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  private begin(h: TarHeader): void {
    const rel = cleanLayerPath(h.name);
    if (rel === null) throw new Refused('path escapes the layer');
    if (rel === '') return; // the root itself ("./"): its metadata is the layer dir's, left as is
    const slash = rel.lastIndexOf('/');
    const parentRel = slash < 0 ? '' : rel.slice(0, slash);
    const base = slash < 0 ? rel : rel.slice(slash + 1);
    if (base.startsWith(WHITEOUT)) {
      this.whiteout(parentRel, base, h);
      return;
    }
    const parent = this.resolveParent(parentRel);
    const target = parent === '' ? base : `${parent}/${base}`;
    const path = this.abs(target);
    switch (h.type) {
      case 'file': {
        this.fd = this.replacing(target, () => openSync(path, OPEN_FLAGS, h.mode & 0o777));
        this.path = path;
        return;
      }
      case 'dir':
        this.directory(target, path, h);
        return;
      case 'symlink':
        this.replacing(target, () => symlinkSync(h.linkname, path));
        this.metadata(path, h, false);
        return;
      case 'hardlink':
        this.hardlink(target, path, h);
        return;
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        this.replacing(target, () => native.mknod(path, kind | (h.mode & 0o777), h.devmajor, h.devminor));
        this.metadata(path, h, true);
        return;
      }
    }
  }

  private directory(target: string, path: string, h: TarHeader): void {
    let created = true;
    try {
      mkdirSync(path, h.mode & 0o777);
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
      if (lstatSync(path).isDirectory()) {
        created = false; // a directory met again: its metadata is merged
      } else {
        unlinkSync(path);
        mkdirSync(path, h.mode & 0o777);
      }
    }
    this.realDirs.add(target);
    if (this.owners && (h.uid !== 0 || h.gid !== 0 || !created)) lchownSync(path, h.uid, h.gid);
    // `path` was just made or checked to be a directory: chmod (which follows) stays on it.
    if (!created || (h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0) chmodSync(path, h.mode & 0o7777);
    this.setXattrs(path, h, 'dir');
    this.dirTimes.set(target, h.mtime);
  }

  /** Owner, mode (not for symlinks, which have none), xattrs and times of a non-file entry. */
  private metadata(path: string, h: TarHeader, chmod: boolean): void {
    if (this.owners && (h.uid !== 0 || h.gid !== 0)) lchownSync(path, h.uid, h.gid);
    if (chmod && ((h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0)) chmodSync(path, h.mode & 0o7777);
    this.setXattrs(path, h, h.type);
    lutimesSync(path, h.mtime, h.mtime);
  }

  private setXattrs(path: string, h: TarHeader, type: TarHeader['type']): void {
    for (const name in h.xattrs) {
      if (!layerKeepsXattr(name)) continue;
      try {
        native.lsetxattr(path, name, h.xattrs[name]!);
      } catch (err) {
        // The kernel takes user.* only on files and directories.
        if (name.startsWith('user.') && type !== 'file' && type !== 'dir' && errnoOf(err) === 'EPERM') continue;
        throw err;
      }
    }
  }

  private hardlink(target: string, path: string, h: TarHeader): void {
    const linkRel = cleanLayerPath(h.linkname);
    if (linkRel === null) throw new Refused(`hardlink target ${JSON.stringify(h.linkname)} escapes the layer`);
    if (linkRel === '') throw new Refused('hardlink to the layer root');
    const slash = linkRel.lastIndexOf('/');
    const parent = this.strictParent(slash < 0 ? '' : linkRel.slice(0, slash), 'hardlink target', false);
    const source = parent === '' ? linkRel.slice(slash + 1) : `${parent}/${linkRel.slice(slash + 1)}`;
    if (source === target) return;
    try {
      // link(2) does not follow a symlink at the source: a hardlink to a symlink is to the link itself.
      this.replacing(target, () => linkSync(this.abs(source), path));
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') throw new Refused(`hardlink target ${JSON.stringify(h.linkname)} does not exist`);
      throw err;
    }
  }

  private whiteout(parentRel: string, base: string, h: TarHeader): void {
    if (base === OPAQUE) {
      const dir = this.strictParent(parentRel, 'opaque whiteout', true);
      native.lsetxattr(this.abs(dir), OPAQUE_XATTR, Buffer.from('y'));
      return;
    }
    // Other ".wh..wh." names are aufs' bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skipped, as docker does.
    if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
    const victim = base.slice(WHITEOUT.length);
    if (victim === '' || victim === '.' || victim === '..') throw new Refused('invalid whiteout name');
    const dir = this.strictParent(parentRel, 'whiteout', true);
    const target = dir === '' ? victim : `${dir}/${victim}`;
    const path = this.abs(target);
    this.replacing(target, () => native.mknod(path, S_IFCHR, 0, 0));
    if (this.owners && (h.uid !== 0 || h.gid !== 0)) lchownSync(path, h.uid, h.gid);
  }

  /** Runs `make`; when something is already at `target`, removes it and runs `make` again. */
  private replacing<T>(target: string, make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw err;
    }
    this.remove(target);
    return make();
  }

  /** Removes what is at `target` (a whole tree for a directory), forgetting what was known below it. */
  private remove(target: string): void {
    const path = this.abs(target);
    const st = lstatSync(path);
    if (!st.isDirectory()) {
      unlinkSync(path);
      return;
    }
    rmSync(path, { recursive: true, force: true });
    const prefix = `${target}/`;
    this.realDirs.delete(target);
    for (const d of this.realDirs) if (d.startsWith(prefix)) this.realDirs.delete(d);
    this.dirTimes.delete(target);
    for (const d of this.dirTimes.keys()) if (d.startsWith(prefix)) this.dirTimes.delete(d);
  }

  /** What a component is; a missing one is made (a 0755 directory) when `create`. Directories are remembered. */
  private kindOf(candidate: string, create: boolean): 'dir' | 'symlink' | 'other' | 'missing' {
    if (this.realDirs.has(candidate)) return 'dir';
    const path = this.abs(candidate);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT') throw err;
      if (!create) return 'missing';
      mkdirSync(path, 0o755);
      this.realDirs.add(candidate);
      return 'dir';
    }
    if (st.isDirectory()) {
      this.realDirs.add(candidate);
      return 'dir';
    }
    return st.isSymbolicLink() ? 'symlink' : 'other';
  }

  /**
   * Resolves a parent path inside the root (securejoin's rule: symlinks are followed with the root
   * as "/", ".." stops at the root) and creates the directories that are missing (0755).
   * Returns the resolved layer-relative path, every component of which is a real directory.
   */
  private resolveParent(rel: string): string {
    if (this.realDirs.has(rel)) return rel;
    const pending = rel.split('/');
    const resolved: string[] = [];
    let links = 0;
    while (pending.length > 0) {
      const comp = pending.shift()!;
      if (comp === '' || comp === '.') continue;
      if (comp === '..') {
        resolved.pop();
        continue;
      }
      resolved.push(comp);
      const candidate = resolved.join('/');
      const kind = this.kindOf(candidate, true);
      if (kind === 'dir') continue;
      if (kind !== 'symlink') throw new Refused(`parent ${JSON.stringify(candidate)} is not a directory`);
      links += 1;
      if (links > MAX_SYMLINKS) throw new Refused(`too many symlinks resolving ${JSON.stringify(rel)}`);
      const link = readlinkSync(this.abs(candidate));
      resolved.pop();
      if (link.startsWith('/')) resolved.length = 0;
      pending.unshift(...link.split('/'));
    }
    return resolved.join('/');
  }

  /**
   * A parent path for whiteouts and hardlink targets: every component must be a real directory,
   * never a symlink. Missing ones are created when `create`, refused otherwise.
   */
  private strictParent(rel: string, what: string, create: boolean): string {
    if (this.realDirs.has(rel)) return rel;
    let candidate = '';
    for (const comp of rel.split('/')) {
      candidate = candidate === '' ? comp : `${candidate}/${comp}`;
      const kind = this.kindOf(candidate, create);
      if (kind === 'dir') continue;
      if (kind === 'missing') throw new Refused(`${what}'s parent ${JSON.stringify(candidate)} does not exist`);
      if (kind === 'symlink') throw new Refused(`${what} through the symlinked parent ${JSON.stringify(candidate)}`);
      throw new Refused(`${what}'s parent ${JSON.stringify(candidate)} is not a directory`);
    }
    return rel;
  }
}

/**
 * Applies a layer (plain, gzip or zstd tar) to `targetDir`, which must exist and must not change
 * under the applier while it runs. On failure the target holds partial output: use
 * `unpackLayerInto`, which unpacks into a temp dir and renames it into place.
 */
export async function applyLayer(source: ByteSource, targetDir: string, opts: ApplyLayerOptions = {}): Promise<ApplyLayerResult> {
  const layer = opts.digest ? `layer ${opts.digest}` : 'layer';
  const root = realpathSync(targetDir);
  const applier = new Applier(root, opts.preserveOwners ?? process.geteuid?.() === 0);
  const parser = new TarParser(applier);
  const input = uncompressedWithDigest(source);
  /** An error of the archive or of one entry, as one line naming it. */
  const failure = (err: unknown): LayerError => {
    if (err instanceof LayerError) return err;
    if (err instanceof TarError) return new LayerError(layer, undefined, err.message, { cause: err });
    const entry = applier.current?.name;
    if (err instanceof Refused) return new LayerError(layer, entry, err.message);
    return new LayerError(layer, entry, describeSyscallError(err), { cause: err });
  };
  try {
    for await (const chunk of input.chunks) {
      if (parser.done) continue;
      try {
        parser.write(chunk);
      } catch (err) {
        throw failure(err);
      }
    }
    try {
      parser.end();
      applier.current = null;
      applier.finish();
    } catch (err) {
      throw failure(err);
    }
  } catch (err) {
    applier.abort();
    if (err instanceof LayerError) throw err;
    // The input itself failed: reading it, or decompressing it.
    throw new LayerError(layer, undefined, (err as Error)?.message ?? String(err), { cause: err });
  }
  const diffID = input.digest();
  if (opts.expectedDiffID && opts.expectedDiffID !== diffID) {
    throw new LayerError(layer, undefined, `uncompressed digest ${diffID} does not match the expected diffID ${opts.expectedDiffID}`);
  }
  return { bytes: input.bytes(), files: applier.files, diffID };
}

/** A chain id's directory name: its hex digits ("sha256:" dropped), checked to be nothing else. */
export function layerDirName(chainId: string): string {
  const hex = chainId.startsWith('sha256:') ? chainId.slice('sha256:'.length) : chainId;
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`invalid chain id ${JSON.stringify(chainId)}`);
  return hex;
}

export interface UnpackResult extends ApplyLayerResult {
  /** The layer's directory: `<storeDir>/<hex of chainId>`. */
  path: string;
  /** False when the layer was already there (unpacked earlier, or by a concurrent unpack). */
  unpacked: boolean;
}

/**
 * Unpacks a layer into `<storeDir>/<chain id hex>` atomically: into `<dir>.tmp-<random>` first,
 * renamed into place on success, removed on failure, so no half-written layer is ever visible.
 * A layer already in place is kept (and the stream is not read).
 */
export async function unpackLayerInto(storeDir: string, chainId: string, source: ByteSource, opts: ApplyLayerOptions = {}): Promise<UnpackResult> {
  const path = join(storeDir, layerDirName(chainId));
  const exists = (): boolean => {
    try {
      return lstatSync(path).isDirectory();
    } catch {
      return false;
    }
  };
  if (exists()) return { path, unpacked: false, bytes: 0, files: 0, diffID: opts.expectedDiffID ?? '' };
  mkdirSync(storeDir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  mkdirSync(tmp, 0o755);
  try {
    const result = await applyLayer(source, tmp, opts);
    try {
      renameSync(tmp, path);
    } catch (err) {
      const code = errnoOf(err);
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && exists()) {
        rmSync(tmp, { recursive: true, force: true });
        return { ...result, path, unpacked: false };
      }
      throw err;
    }
    return { ...result, path, unpacked: true };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}
