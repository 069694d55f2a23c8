// `berth cp`: files between a container and the host, as tar streams, with docker's rules for
// what lands where. Every path inside the container is resolved by the kernel with the
// container's root as "/" (openat2 RESOLVE_IN_ROOT on an fd of that root), and every later step
// works from fds: only one name is ever looked up in a directory already opened, never following
// a symlink there. A symlink in the container (absolute, a `..` chain, a chain of links), even
// one swapped in while the copy runs, cannot make berth read or write a host path.
import { closeSync, constants, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, unlinkSync, utimesSync, type Stats } from 'node:fs';
import { posix, resolve } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { native, O_PATH, RESOLVE } from '../kernel/native.js';
import { devMajor, devMinor, layerXattrsOf, statHeader } from '../storage/archive.js';
import { applyTar, Refused, TarApplier, type ApplyTarget, type DirectoryUse, type TargetDir } from '../storage/apply.js';
import { decompressedChunks, TarWriter, type ByteSource, type TarHeader } from '../tar/index.js';
import { withFdAsync, withHostRoot, type CopyRoot } from './container-root.js';
import { BerthError, errnoCodeOf, type ErrorKind } from '../errors.js';

export class CopyError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'CopyError';
}

/** The path by which this process reaches what an fd holds; a name below it is looked up in that directory. */
function viaFd(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

/** An O_PATH fd of `path` resolved inside `root` (null when it does not exist). */
function openInRoot(root: CopyRoot, path: string, follow: boolean): number | null {
  try {
    return native.openat2(root.fd, path, O_PATH | (follow ? 0 : constants.O_NOFOLLOW), 0, RESOLVE.IN_ROOT);
  } catch (err) {
    if (errnoCodeOf(err) === 'ENOENT') return null;
    throw new CopyError(`${path} in ${root.what}: ${(err as Error).message}`);
  }
}

function withFd<T>(fd: number, use: (fd: number) => T): T {
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/** docker: a trailing "/." copies a directory's contents; a trailing "/" or "/." follows a final symlink. */
function sourceForm(path: string): { contentsOnly: boolean; trailing: boolean } {
  return { contentsOnly: /(^|\/)\.$/.test(path), trailing: /\/\.?$/.test(path) };
}

function baseName(path: string): string {
  return posix.basename(posix.normalize(path).replace(/\/\.?$/, '')) || '/';
}

export interface SourceInfo {
  isDir: boolean;
}

/** What `path` is inside `root`: a CopyError when it does not exist (docker's message). */
export function statSource(root: CopyRoot, path: string, followLink: boolean): SourceInfo {
  const fd = openInRoot(root, path, followLink || sourceForm(path).trailing);
  if (fd === null) throw new CopyError(`Could not find the file ${path} in ${root.what}`, { kind: 'not-found' });
  return withFd(fd, (f) => ({ isDir: fstatSync(f).isDirectory() }));
}

/** What docker's archive API says of a path (X-Docker-Container-Path-Stat): st_mode, not Go's FileMode. */
export interface PathStat {
  name: string;
  size: number;
  mode: number;
  mtime: Date;
  linkTarget: string;
}

/** `path` inside `root`, not following a final symlink (its target read in its directory, never followed). */
export function statInRoot(root: CopyRoot, path: string): PathStat {
  const fd = openInRoot(root, path, sourceForm(path).trailing);
  if (fd === null) throw new CopyError(`Could not find the file ${path} in ${root.what}`, { kind: 'not-found' });
  const st = withFd(fd, (f) => fstatSync(f));
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const parent = openInRoot(root, posix.dirname(posix.normalize(path)), true);
    if (parent !== null) linkTarget = withFd(parent, (p) => readlinkSync(viaFd(p, baseName(path))));
  }
  return { name: baseName(path), size: st.size, mode: st.mode, mtime: st.mtime, linkTarget };
}

/**
 * Writes `path` (inside `root`) to a tar: its top entry named `topName`, what is below it as
 * `topName/...` — or, with topName '', only what is below it. The tar is not finished here.
 */
export async function archiveFromRoot(root: CopyRoot, path: string, opts: { followLink: boolean; topName: string }, tar: TarWriter): Promise<void> {
  const follow = opts.followLink || sourceForm(path).trailing;
  const fd = openInRoot(root, path, follow);
  if (fd === null) throw new CopyError(`Could not find the file ${path} in ${root.what}`, { kind: 'not-found' });
  const walker = new FdArchiver(tar);
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) {
      const dir = native.openat2(fd, '.', constants.O_RDONLY | constants.O_DIRECTORY, 0, RESOLVE.BENEATH);
      await withFdAsync(dir, async (d) => {
        if (opts.topName !== '') await walker.emit(opts.topName, st, `${viaFd(d)}/.`);
        await walker.children(d, opts.topName);
      });
      return;
    }
    if (opts.topName === '') throw new CopyError(`${path} in ${root.what}: not a directory`);
    if (!follow || st.isSymbolicLink()) {
      // Not followed (or a dangling link): the entry itself, by its name in its directory.
      const clean = posix.normalize(path);
      const parent = openInRoot(root, posix.dirname(clean), true);
      if (parent === null) throw new CopyError(`Could not find the file ${path} in ${root.what}`, { kind: 'not-found' });
      await withFdAsync(parent, (p) => walker.addNamed(p, posix.basename(clean), opts.topName));
    } else if (st.isFile()) {
      // Followed to a file that may live anywhere in the root: read through the fd that found it.
      const file = openSync(viaFd(fd), constants.O_RDONLY | constants.O_NONBLOCK);
      await withFdAsync(file, (f) => walker.emitFile(opts.topName, fstatSync(f), f, null));
    } else {
      await walker.emit(opts.topName, st, null);
    }
  } finally {
    closeSync(fd);
  }
}

/** The tar side of a walk that only ever looks names up in directories it holds open. */
class FdArchiver {
  private readonly links = new Map<string, string>();

  constructor(private readonly tar: TarWriter) {}

  /** Every entry of the open directory `dirFd`, depth first, named under `prefix`. */
  async children(dirFd: number, prefix: string): Promise<void> {
    for (const name of readdirSync(viaFd(dirFd)).sort()) {
      await this.addNamed(dirFd, name, prefix === '' ? name : `${prefix}/${name}`);
    }
  }

  /** The entry `name` of the open directory `dirFd`, as `tarName` (and what is below it). */
  async addNamed(dirFd: number, name: string, tarName: string): Promise<void> {
    const path = viaFd(dirFd, name);
    const st = lstatSync(path);
    if (st.isDirectory()) {
      // O_NOFOLLOW|O_DIRECTORY: a directory swapped for a symlink since the lstat fails here.
      const child = native.openat2(dirFd, name, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
      await withFdAsync(child, async (c) => {
        await this.emit(tarName, fstatSync(c), path);
        await this.children(c, tarName);
      });
    } else if (st.isFile()) {
      // O_NONBLOCK: a FIFO swapped in since the lstat must not hang the copy.
      const file = native.openat2(dirFd, name, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0, RESOLVE.BENEATH | RESOLVE.NO_SYMLINKS);
      await withFdAsync(file, async (f) => {
        const fst = fstatSync(f);
        if (!fst.isFile()) throw new CopyError(`${tarName}: changed while being copied`);
        await this.emitFile(tarName, fst, f, path);
      });
    } else {
      await this.emit(tarName, st, path);
    }
  }

  /** A regular file from an fd open for reading; `path` (never followed) for its xattrs, when known. */
  async emitFile(tarName: string, st: Stats, fd: number, path: string | null): Promise<void> {
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? this.links.get(key) : undefined;
    if (first !== undefined) {
      await this.tar.add({ ...statHeader(st), name: tarName, type: 'hardlink', linkname: first });
      return;
    }
    if (st.nlink > 1) this.links.set(key, tarName);
    await this.tar.addFile({ ...statHeader(st), name: tarName, type: 'file', size: st.size, xattrs: path ? layerXattrsOf(path) : {} }, fd);
  }

  /** A non-file entry; `path` reaches it through an open directory fd, its last name never followed. */
  async emit(tarName: string, st: Stats, path: string | null): Promise<void> {
    const base = { ...statHeader(st), name: tarName, xattrs: path ? layerXattrsOf(path) : {} };
    if (st.isDirectory()) await this.tar.add({ ...base, type: 'dir' });
    else if (st.isSymbolicLink() && path) await this.tar.add({ ...base, type: 'symlink', linkname: readlinkSync(path) });
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      await this.tar.add({ ...base, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) });
    } else if (st.isFIFO()) await this.tar.add({ ...base, type: 'fifo' });
    // sockets are skipped, as docker skips them
  }
}

/** Where a copy lands: the directory to extract into (inside `root`), and what to call the top entry. */
export interface CopyTarget {
  dir: string;
  topName: string;
}

/**
 * docker cp's rules for DEST (resolved inside `root`, following symlinks there):
 * an existing directory receives SRC by its name (or, for SRC/., its contents); an existing file
 * is overwritten by a file; a missing DEST becomes SRC's copy when its parent exists.
 */
export function copyTarget(root: CopyRoot, dest: string, source: { path: string; isDir: boolean }): CopyTarget {
  const fd = openInRoot(root, dest, true);
  if (fd !== null) {
    const isDir = withFd(fd, (f) => fstatSync(f).isDirectory());
    if (isDir) return { dir: dest, topName: source.isDir && sourceForm(source.path).contentsOnly ? '' : baseName(source.path) };
    if (source.isDir) throw new CopyError(`cannot copy a directory to a file: ${dest} in ${root.what}`);
    return { dir: posix.dirname(dest), topName: posix.basename(dest) };
  }
  if (/\/$/.test(dest) && !source.isDir) throw new CopyError(`no such directory: ${dest} in ${root.what} (a file is copied into an existing directory)`);
  const parent = posix.dirname(dest.replace(/\/+$/, '') || '/');
  const parentFd = openInRoot(root, parent, true);
  if (parentFd === null || !withFd(parentFd, (f) => fstatSync(f).isDirectory())) throw new CopyError(`no such directory: ${parent} in ${root.what}`);
  return { dir: parent, topName: posix.basename(dest.replace(/\/+$/, '')) };
}

/** The directory DEST for a tar on stdin (`cp - CTR:DEST`): it must exist. */
export function tarTarget(root: CopyRoot, dest: string): CopyTarget {
  const fd = openInRoot(root, dest, true);
  if (fd === null || !withFd(fd, (f) => fstatSync(f).isDirectory())) throw new CopyError(`destination ${dest} in ${root.what} must be a directory`);
  return { dir: dest, topName: '' };
}

/**
 * Where `berth cp` extracts: the directory `dir` inside `root`. Each entry's parent is opened with
 * RESOLVE_IN_ROOT (symlinks inside the root are followed, as the container would; nothing leads
 * out of it) and held while the tar applier makes the entry by its one name in it, never through
 * a symlink. An entry in the way is replaced unless one of the two is a directory (docker's rule).
 */
class RootDir implements ApplyTarget {
  readonly outside = 'climbs out of the destination';

  constructor(
    private readonly root: CopyRoot,
    private readonly dir: string,
  ) {}

  directory(rel: string, use: DirectoryUse): TargetDir {
    const path = posix.join(this.dir, rel);
    const fd = openInRoot(this.root, path, true);
    if (fd === null) throw new Refused(`${use === 'hardlink target' ? "hardlink target's directory" : 'no directory'} ${path} in ${this.root.what}`);
    return { rel, path: viaFd(fd), release: () => closeSync(fd) };
  }

  clear(dir: TargetDir, name: string, existingIsDir: boolean, type: TarHeader['type']): void {
    const shown = JSON.stringify(posix.join(dir.rel, name));
    if (existingIsDir) throw new Refused(`cannot overwrite directory ${shown} with non-directory`);
    if (type === 'dir') throw new Refused(`cannot overwrite non-directory ${shown} with directory`);
    unlinkSync(`${dir.path}/${name}`);
  }

  madeDirectory(): void {
    // Nothing is remembered: the container may change its tree while the copy runs.
  }

  setDirectoryTime(rel: string, mtime: number): void {
    const fd = openInRoot(this.root, posix.join(this.dir, rel), false);
    if (fd !== null) withFd(fd, (f) => utimesSync(viaFd(f), mtime, mtime));
  }
}

/**
 * Extracts a tar into `dir` inside `root`, with the tar applier the layers use (storage/apply.ts).
 * With `owners` (cp -a) the tar's uid/gid are kept; without, files belong to the copier (root).
 */
export async function extractIntoRoot(source: ByteSource, root: CopyRoot, dir: string, opts: { owners: boolean; endAtEntry?: boolean }): Promise<void> {
  const applier = new TarApplier(new RootDir(root, dir), { owners: opts.owners, whiteouts: false });
  await applyTar(
    source,
    applier,
    (reason, entry, cause) => new CopyError(entry === undefined ? reason : `tar entry ${JSON.stringify(entry)}: ${reason}`, cause === undefined ? {} : { cause }),
    { endAtEntry: opts.endAtEntry === true },
  );
}

/** A tar flowing from an archive walk straight into an extraction. */
async function pipeTree(from: CopyRoot, path: string, opts: { followLink: boolean; topName: string }, to: CopyRoot, dir: string, owners: boolean): Promise<void> {
  const pipe = new PassThrough();
  const failed = (err: unknown) => {
    pipe.destroy(err as Error);
    throw err;
  };
  const tar = new TarWriter(pipe);
  await Promise.all([
    archiveFromRoot(from, path, opts, tar)
      .then(() => tar.finish())
      .catch(failed),
    extractIntoRoot(pipe, to, dir, { owners }).catch(failed),
  ]);
}

export interface CopyOptions {
  /** -a: keep the source's uid/gid (else the copy belongs to the one who copies, root). */
  archive: boolean;
  /** -L: a symlink as SRC is followed (inside its root). */
  followLink: boolean;
}

/** `berth cp CTR:SRC DEST|-`: DEST on the host, or a tar on `stdout` for "-". */
export async function copyFromContainer(container: CopyRoot, src: string, dest: string, opts: CopyOptions, stdout: Writable): Promise<void> {
  const source = statSource(container, src, opts.followLink);
  if (dest === '-') return archivePath(container, src, source, opts.followLink, stdout);
  const target = await withHostRoot('/', async (host) => copyTarget(host, resolve(dest), { path: src, isDir: source.isDir }));
  await withHostRoot(target.dir, (into) => pipeTree(container, src, { followLink: opts.followLink, topName: target.topName }, into, '/', opts.archive));
}

/** `path` of the container as a tar on `out` (`cp CTR:SRC -`, the API's archive GET): "/." gives a directory's contents. */
export async function archivePath(container: CopyRoot, src: string, source: SourceInfo, followLink: boolean, out: Writable): Promise<void> {
  const tar = new TarWriter(out);
  const topName = source.isDir && sourceForm(src).contentsOnly ? '' : baseName(src);
  await archiveFromRoot(container, src, { followLink, topName }, tar);
  await tar.finish();
}

/** A tar from `source` extracted into the directory `dest` of the container (`cp - CTR:DEST`, the API's archive PUT). */
export async function extractArchive(container: CopyRoot, dest: string, source: ByteSource, owners: boolean): Promise<void> {
  const target = tarTarget(container, dest);
  await extractIntoRoot(decompressedChunks(source), container, target.dir, { owners });
}

/** `berth cp SRC|- CTR:DEST`: SRC from the host, or a tar on `stdin` for "-" (extracted into the directory DEST). */
export async function copyIntoContainer(container: CopyRoot, src: string, dest: string, opts: CopyOptions, stdin: ByteSource): Promise<void> {
  if (src === '-') return extractArchive(container, dest, stdin, opts.archive);
  await withHostRoot('/', async (host) => {
    const path = resolve(src) + (/\/\.?$/.test(src) ? src.slice(src.lastIndexOf('/')) : '');
    const source = statSource(host, path, opts.followLink);
    const target = copyTarget(container, dest, { path, isDir: source.isDir });
    await pipeTree(host, path, { followLink: opts.followLink, topName: target.topName }, container, target.dir, opts.archive);
  });
}

/** `CONTAINER:PATH` → its parts; a local path (with a "/" before any ":", or "-") → null. */
export function splitCopyArg(arg: string): { container: string; path: string } | null {
  const colon = arg.indexOf(':');
  if (arg === '-' || colon <= 0 || arg.slice(0, colon).includes('/') || arg.startsWith('.')) return null;
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}
