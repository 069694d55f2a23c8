// The tar applier, the one berth has: a tar's entries made in a directory tree, each with its
// owner, mode, extended attributes and times, and (for a layer) OCI whiteouts turned into
// overlayfs' form. Where entries go is the target's to say (ApplyTarget): a layer's private
// directory (unpack.ts), or a container's root reached through fds (`berth cp`, engine/copy.ts).
//
// Whatever the target, the applier never follows a symlink at an entry's own name: files are
// created O_EXCL|O_NOFOLLOW, directories are changed through an O_NOFOLLOW fd, links and nodes
// with l* calls; an entry in the way is removed or refused by the target, never written through.
//
// Speed: the tar parser pushes entries synchronously and files are written with sync calls on
// an fd opened once per file: no promise per entry, one per input chunk.
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  readFileSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { BerthError, errnoCodeOf, type ErrorKind } from '../errors.js';
import { describeErrno } from '../kernel/errors.js';
import { native, O_PATH } from '../kernel/native.js';
import { TarError, type TarHeader } from '../tar/header.js';
import { TarParser, type TarSink } from '../tar/parser.js';
import { layerKeepsXattr, OPAQUE_XATTR } from './xattr.js';

/** An entry refused on its own terms (not a failed syscall); its message is the reason. */
export class Refused extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'Refused';
}

/** A directory of the target, held while an entry is made in it. */
export interface TargetDir {
  /** Its target-relative name as resolved ('' is the top). */
  rel: string;
  /** A path by which this process reaches it: a name joined to it is looked up in that directory only. */
  path: string;
  release(): void;
}

/** Why a directory is reached: it may be made when missing, or must not be reached through a symlink. */
export type DirectoryUse = 'entry' | 'whiteout' | 'opaque whiteout' | 'hardlink target';

/** Where an applier makes its entries. */
export interface ApplyTarget {
  /** How a name that leads out is refused: "escapes the layer". */
  readonly outside: string;
  /** The directory `rel` (target-relative, cleaned), to make or find a name in. */
  directory(rel: string, use: DirectoryUse): TargetDir;
  /** Something stands at `name` in `dir` where an entry of `type` goes (and no directory is merged into a directory): remove it, or refuse. */
  clear(dir: TargetDir, name: string, existingIsDir: boolean, type: TarHeader['type']): void;
  /** A directory was made or met at `rel`. */
  madeDirectory(rel: string): void;
  /** A directory's times, set once every entry is in place (making entries in it changed them); one gone since is fine. */
  setDirectoryTime(rel: string, mtime: number): void;
}

export interface ApplierOptions {
  /** Set owners from the tar (else entries belong to the one who applies). */
  owners: boolean;
  /** `.wh.NAME` and `.wh..wh..opq` are OCI whiteouts (a layer), made overlayfs' way; else plain names. */
  whiteouts: boolean;
}

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
const OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW; // libuv adds O_CLOEXEC
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

function processUmask(): number {
  try {
    const m = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
    if (m) return parseInt(m[1]!, 8);
  } catch {
    // No /proc/self/status (no procfs here): the usual umask below is the guess, and a wrong
    // guess only costs a chmod that was not needed, or the mode bits the umask took.
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

/** "open: ENOSPC (no space left on device)" from a Node fs or addon error. */
export function describeSyscallError(err: unknown): string {
  const e = err as { errno?: number; syscall?: string; message?: string };
  if (typeof e?.errno === 'number' && e.syscall) {
    const { name, text } = describeErrno(Math.abs(e.errno));
    return `${e.syscall}: ${name} (${text})`;
  }
  return e?.message ?? String(err);
}

function split(rel: string): { parent: string; base: string } {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? { parent: '', base: rel } : { parent: rel.slice(0, slash), base: rel.slice(slash + 1) };
}

function join(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

export class TarApplier implements TarSink {
  files = 0;
  /** The entry being applied, for error messages. */
  current: TarHeader | null = null;
  /** The file being written, and the directory held for it until its end. */
  private fd = -1;
  private filePath = '';
  private fileDir: TargetDir | null = null;
  /** Directory mtimes by target-relative name, set at the end. */
  private readonly dirTimes = new Map<string, number>();
  private readonly umask = processUmask();

  constructor(
    private readonly target: ApplyTarget,
    private readonly opts: ApplierOptions,
  ) {}

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
    if (this.opts.owners && (h.uid !== 0 || h.gid !== 0)) fchownSync(fd, h.uid, h.gid);
    // chown clears setuid/setgid, and open's mode went through the umask: chmod when either matters.
    if ((h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0) fchmodSync(fd, h.mode & 0o7777);
    this.setXattrs(this.filePath, h, 'file'); // after chown, which drops security.capability
    futimesSync(fd, h.mtime, h.mtime);
    this.closeFile();
  }

  /** Directory times, once every entry is in place. */
  finish(): void {
    this.current = null;
    for (const [rel, mtime] of this.dirTimes) this.target.setDirectoryTime(rel, mtime);
  }

  /** Lets go of what a failed entry held. */
  abort(): void {
    try {
      this.closeFile();
    } catch {
      // Closing after a failure: the failure is what is reported; a close error adds nothing.
    }
  }

  private closeFile(): void {
    const fd = this.fd;
    const dir = this.fileDir;
    this.fd = -1;
    this.fileDir = null;
    try {
      if (fd >= 0) closeSync(fd);
    } finally {
      dir?.release();
    }
  }

  private begin(h: TarHeader): void {
    const rel = cleanLayerPath(h.name);
    if (rel === null) throw new Refused(`path ${this.target.outside}`);
    if (rel === '') return; // the top itself ("./"): its metadata is the target's, left as is
    const { parent, base } = split(rel);
    if (this.opts.whiteouts && base.startsWith(WHITEOUT)) {
      this.whiteout(parent, base, h);
      return;
    }
    const dir = this.target.directory(parent, 'entry');
    let held = false;
    try {
      held = this.make(dir, base, h);
    } finally {
      if (!held) dir.release();
    }
  }

  /** Makes the entry; true when it keeps `dir` (a file being written). */
  private make(dir: TargetDir, base: string, h: TarHeader): boolean {
    const path = `${dir.path}/${base}`;
    switch (h.type) {
      case 'file':
        this.fd = this.replacing(dir, base, h.type, () => openSync(path, OPEN_FLAGS, h.mode & 0o777));
        this.filePath = path;
        this.fileDir = dir;
        return true;
      case 'dir':
        this.directory(dir, base, h);
        return false;
      case 'symlink':
        this.replacing(dir, base, h.type, () => symlinkSync(h.linkname, path));
        this.metadata(path, h, false);
        return false;
      case 'hardlink':
        this.hardlink(dir, base, h);
        return false;
      case 'char':
      case 'block':
      case 'fifo': {
        const kind = h.type === 'char' ? S_IFCHR : h.type === 'block' ? S_IFBLK : S_IFIFO;
        this.replacing(dir, base, h.type, () => native.mknod(path, kind | (h.mode & 0o777), h.devmajor, h.devminor));
        this.metadata(path, h, true);
        return false;
      }
    }
  }

  private directory(dir: TargetDir, base: string, h: TarHeader): void {
    const path = `${dir.path}/${base}`;
    const rel = join(dir.rel, base);
    let created = true;
    try {
      mkdirSync(path, h.mode & 0o777);
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST') throw err;
      if (lstatSync(path).isDirectory()) {
        created = false; // a directory met again: its metadata is merged
      } else {
        this.target.clear(dir, base, false, 'dir');
        mkdirSync(path, h.mode & 0o777);
      }
    }
    this.target.madeDirectory(rel);
    const chown = this.opts.owners && (h.uid !== 0 || h.gid !== 0 || !created);
    const chmod = !created || (h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0;
    if (chown || chmod) {
      // Through an fd opened without following: what is at `path` now is the directory itself.
      const fd = openSync(path, DIR_FLAGS);
      try {
        if (chown) fchownSync(fd, h.uid, h.gid);
        if (chmod) fchmodSync(fd, h.mode & 0o7777);
      } finally {
        closeSync(fd);
      }
    }
    this.setXattrs(path, h, 'dir');
    this.dirTimes.set(rel, h.mtime);
  }

  /** Owner, mode (not for symlinks, which have none), xattrs and times of a non-file entry. */
  private metadata(path: string, h: TarHeader, chmod: boolean): void {
    if (this.opts.owners && (h.uid !== 0 || h.gid !== 0)) lchownSync(path, h.uid, h.gid);
    if (chmod && ((h.mode & 0o7000) !== 0 || (h.mode & this.umask) !== 0)) chmodNode(path, h.mode & 0o7777);
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
        if (name.startsWith('user.') && type !== 'file' && type !== 'dir' && errnoCodeOf(err) === 'EPERM') continue;
        throw err;
      }
    }
  }

  private hardlink(dir: TargetDir, base: string, h: TarHeader): void {
    const linkRel = cleanLayerPath(h.linkname);
    if (linkRel === null) throw new Refused(`hardlink target ${JSON.stringify(h.linkname)} ${this.target.outside}`);
    if (linkRel === '') throw new Refused('hardlink to the top directory');
    const source = split(linkRel);
    const sourceDir = this.target.directory(source.parent, 'hardlink target');
    try {
      if (join(sourceDir.rel, source.base) === join(dir.rel, base)) return;
      // link(2) does not follow a symlink at the source: a hardlink to a symlink is to the link itself.
      this.replacing(dir, base, h.type, () => linkSync(`${sourceDir.path}/${source.base}`, `${dir.path}/${base}`));
    } catch (err) {
      if (errnoCodeOf(err) === 'ENOENT') throw new Refused(`hardlink target ${JSON.stringify(h.linkname)} does not exist`);
      throw err;
    } finally {
      sourceDir.release();
    }
  }

  private whiteout(parent: string, base: string, h: TarHeader): void {
    if (base === OPAQUE) {
      const dir = this.target.directory(parent, 'opaque whiteout');
      try {
        native.lsetxattr(dir.path, OPAQUE_XATTR, Buffer.from('y'));
      } finally {
        dir.release();
      }
      return;
    }
    // Other ".wh..wh." names are aufs' bookkeeping (.wh..wh.plnk, .wh..wh.aufs): skipped, as docker does.
    if (base.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
    const victim = base.slice(WHITEOUT.length);
    if (victim === '' || victim === '.' || victim === '..') throw new Refused('invalid whiteout name');
    const dir = this.target.directory(parent, 'whiteout');
    try {
      const path = `${dir.path}/${victim}`;
      this.replacing(dir, victim, 'char', () => native.mknod(path, S_IFCHR, 0, 0));
      if (this.opts.owners && (h.uid !== 0 || h.gid !== 0)) lchownSync(path, h.uid, h.gid);
    } finally {
      dir.release();
    }
  }

  /** Runs `make`; when something is already at `base`, has the target clear it, and runs `make` again. */
  private replacing<T>(dir: TargetDir, base: string, type: TarHeader['type'], make: () => T): T {
    try {
      return make();
    } catch (err) {
      if (errnoCodeOf(err) !== 'EEXIST') throw err;
    }
    const existingIsDir = lstatSync(`${dir.path}/${base}`).isDirectory();
    this.target.clear(dir, base, existingIsDir, type);
    if (existingIsDir) this.forgetBelow(join(dir.rel, base));
    return make();
  }

  /** A directory removed: its times and those below it are no longer to be set. */
  private forgetBelow(rel: string): void {
    const prefix = `${rel}/`;
    this.dirTimes.delete(rel);
    for (const d of this.dirTimes.keys()) if (d.startsWith(prefix)) this.dirTimes.delete(d);
  }
}

/**
 * chmod of the device node or FIFO just made at `path`, never of what a symlink swapped in there
 * names: the node is opened without following (O_PATH: a FIFO must not block, a device must not
 * open), checked, and changed through its fd's /proc link, which names that node itself.
 */
function chmodNode(path: string, mode: number): void {
  const fd = openSync(path, O_PATH | constants.O_NOFOLLOW);
  try {
    if (fstatSync(fd).isSymbolicLink()) throw new Refused('changed while being made (now a symlink)');
    chmodSync(`/proc/self/fd/${fd}`, mode);
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs a tar (its chunks, uncompressed) through the applier. `failure` makes the caller's error:
 * `entry` names the entry at fault, undefined when the archive as a whole is (a bad header, or
 * its input failed).
 */
export async function applyTar(
  chunks: AsyncIterable<Buffer> | Iterable<Buffer>,
  applier: TarApplier,
  failure: (reason: string, entry: string | undefined, cause: unknown) => Error,
  options: { endAtEntry?: boolean } = {},
): Promise<void> {
  const parser = new TarParser(applier, options);
  let parsing = false;
  try {
    for await (const chunk of chunks) {
      if (parser.done) continue; // the rest is read, not applied: the caller may be hashing the input
      parsing = true;
      parser.write(chunk);
      parsing = false;
    }
    parsing = true;
    parser.end();
    applier.finish();
  } catch (err) {
    applier.abort();
    if (err instanceof TarError) throw failure(err.message, undefined, err);
    if (!parsing) throw failure((err as Error)?.message ?? String(err), undefined, err); // the input failed
    const entry = applier.current?.name;
    if (err instanceof Refused) throw failure(err.message, entry, undefined);
    throw failure(describeSyscallError(err), entry, err);
  }
}
