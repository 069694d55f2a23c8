// The build context: a directory of the host, or a tar on stdin extracted into a private directory
// under the storage root by the layers' tar applier (nothing in it can land outside). Every path
// inside it is looked up with the context as "/" (openat2 RESOLVE_IN_ROOT, through `berth cp`'s
// code): a symlink or a `..` in a COPY source or in the context can never reach the host.
import { closeSync, constants, fstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, posix, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { withHostRoot, type CopyRoot } from '../engine/container-root.js';
import { extractIntoRoot } from '../engine/copy.js';
import { native, O_PATH, RESOLVE } from '../kernel/native.js';
import { byteIterator, chunksFrom, decompressedChunks, readHead } from '../tar/compression.js';
import { BerthError, isMissing, type ErrorKind } from '../errors.js';
import { globRegExp, hasGlob, IgnoreRules } from './dockerignore.js';

export class BuildError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'BuildError';
}

/** A RUN whose command failed: docker's message, and its exit code, which `docker build` exits with. */
export class RunFailedError extends BerthError {
  static override readonly kind: ErrorKind = 'system';
  override readonly name = 'RunFailedError';

  constructor(
    command: string[],
    readonly exitCode: number,
  ) {
    super(`The command '${command.join(' ')}' returned a non-zero code: ${exitCode}`);
  }
}

/** The build was ended from outside (a signal, the API client gone): what it had begun is undone. */
export class BuildCancelledError extends BerthError {
  static override readonly kind: ErrorKind = 'system';
  override readonly name = 'BuildCancelledError';
}

export class BuildContext {
  private constructor(
    /** The context's directory on the host. */
    readonly dir: string,
    readonly ignore: IgnoreRules,
    /** A Dockerfile that came on stdin instead of a context. */
    private readonly inlineDockerfile: string | undefined,
    private readonly temporary: boolean,
  ) {}

  static fromDirectory(dir: string): BuildContext {
    const abs = resolve(dir);
    let isDir = false;
    try {
      isDir = fstatDir(abs);
    } catch (err) {
      throw new BuildError(`unable to prepare context: path ${JSON.stringify(dir)} not found`, { cause: err });
    }
    if (!isDir) throw new BuildError(`unable to prepare context: context must be a directory: ${abs}`);
    return new BuildContext(abs, new IgnoreRules(readContextFile(abs, '.dockerignore') ?? ''), undefined, false);
  }

  /**
   * `-`: stdin holds a tar (maybe compressed), extracted into `<tmpRoot>/build-<random>`, or else
   * a Dockerfile alone (docker's `docker build - < Dockerfile`: no context).
   */
  static async fromStdin(input: Readable | AsyncIterable<Buffer>, tmpRoot: string): Promise<BuildContext> {
    mkdirSync(tmpRoot, { recursive: true, mode: 0o700 });
    const dir = mkdtempSync(join(tmpRoot, 'build-'));
    try {
      const it = byteIterator(input);
      const { head, eof } = await readHead(it, 512);
      const chunks = chunksFrom(head, eof, it);
      if (!looksLikeArchive(head)) {
        const parts: Buffer[] = [];
        for await (const c of chunks) parts.push(c);
        return new BuildContext(dir, new IgnoreRules(''), Buffer.concat(parts).toString('utf8'), true);
      }
      // As dockerd reads a context: it may end where an entry ends (docker's CLI sends one so with -f outside it).
      await withHostRoot(dir, (root) => extractIntoRoot(decompressedChunks(chunks), root, '/', { owners: true, endAtEntry: true }));
      return new BuildContext(dir, new IgnoreRules(readContextFile(dir, '.dockerignore') ?? ''), undefined, true);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Removes what the context made (a stdin tar's directory); a directory of the user is left alone. */
  close(): void {
    if (this.temporary) rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * The Dockerfile: `-f` as a path of the host (docker allows one outside the context) when the
   * context is a directory, else a name inside the context; default `Dockerfile` in the context.
   */
  dockerfile(name: string | undefined): { text: string; name: string } {
    if (this.inlineDockerfile !== undefined) return { text: this.inlineDockerfile, name: 'Dockerfile' };
    if (name !== undefined && !this.temporary) {
      try {
        return { text: readFileSync(resolve(name), 'utf8'), name };
      } catch (err) {
        throw new BuildError(`unable to read the Dockerfile ${name}: ${(err as Error).message}`, { cause: err });
      }
    }
    const inside = name ?? 'Dockerfile';
    const text = readContextFile(this.dir, inside) ?? (name === undefined ? readContextFile(this.dir, 'dockerfile') : null);
    if (text === null) throw new BuildError(`unable to find the Dockerfile: ${inside} is not in the build context`, { kind: 'not-found' });
    return { text, name: inside };
  }

  withRoot<T>(use: (root: CopyRoot) => Promise<T>): Promise<T> {
    return withHostRoot(this.dir, (root) => use({ ...root, what: 'the build context' }));
  }
}

/**
 * COPY's sources as paths of the context (no leading `/`): each cleaned inside the context
 * (`..` stops at its root), globs expanded against what the context holds; what .dockerignore
 * leaves out does not exist. At least one match each, or docker's error.
 */
export function findSources(root: CopyRoot, patterns: string[], instruction: string, ignore: IgnoreRules | undefined): string[] {
  const found: string[] = [];
  for (const pattern of patterns) {
    const clean = posix.normalize(`/${pattern}`).slice(1).replace(/\/+$/, '');
    const matches = hasGlob(clean) ? glob(root, clean, ignore) : exists(root, clean, ignore) ? [clean] : [];
    if (matches.length === 0) throw new BuildError(`${instruction} failed: file not found in ${root.what === 'the build context' ? 'build context or excluded by .dockerignore' : root.what}: stat ${pattern}: file does not exist`, { kind: 'not-found' });
    found.push(...matches);
  }
  return found;
}

function fstatDir(path: string): boolean {
  const fd = native.openPath(path);
  try {
    return fstatSync(fd).isDirectory();
  } finally {
    closeSync(fd);
  }
}

/** An O_PATH fd of `rel` inside `root`, or null when it is not there. */
export function openIn(root: CopyRoot, rel: string, follow: boolean): number | null {
  try {
    return native.openat2(root.fd, rel, O_PATH | (follow ? 0 : constants.O_NOFOLLOW), 0, RESOLVE.IN_ROOT);
  } catch (err) {
    if (isMissing(err)) return null;
    throw err;
  }
}

function listIn(root: CopyRoot, rel: string): string[] {
  const fd = openIn(root, rel === '' ? '.' : rel, true);
  if (fd === null) return [];
  try {
    if (!fstatSync(fd).isDirectory()) return [];
    return readdirSync(`/proc/self/fd/${fd}`).sort();
  } finally {
    closeSync(fd);
  }
}

/** A file of the context read with the context as "/" (null when absent). */
function readContextFile(dir: string, rel: string): string | null {
  const rootFd = native.openPath(dir);
  try {
    let fd: number;
    try {
      fd = native.openat2(rootFd, rel, constants.O_RDONLY, 0, RESOLVE.IN_ROOT);
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
    try {
      return readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(rootFd);
  }
}

function exists(root: CopyRoot, rel: string, ignore: IgnoreRules | undefined): boolean {
  const ignored = rel !== '' && ignore !== undefined && ignore.ignores(rel);
  if (ignored && !ignore.mayKeepBelow(rel)) return false;
  const fd = openIn(root, rel === '' ? '.' : rel, true);
  if (fd === null) return false;
  try {
    // An ignored directory is there only for what an exception keeps below it.
    return !ignored || fstatSync(fd).isDirectory();
  } finally {
    closeSync(fd);
  }
}

/** The paths of `root` matching a glob, one name per component (docker's filepath.Match). */
function glob(root: CopyRoot, pattern: string, ignore: IgnoreRules | undefined): string[] {
  const parts = pattern.split('/');
  let current = [''];
  for (const part of parts) {
    const next: string[] = [];
    for (const base of current) {
      if (!hasGlob(part)) {
        const p = base === '' ? part : `${base}/${part}`;
        if (exists(root, p, ignore)) next.push(p);
        continue;
      }
      const re = globRegExp(part);
      for (const name of listIn(root, base)) {
        const p = base === '' ? name : `${base}/${name}`;
        if (re.test(name) && exists(root, p, ignore)) next.push(p);
      }
    }
    current = next;
  }
  return current.sort();
}

/** A tar (ustar magic at 257) or a compressed stream, not a Dockerfile's text. */
function looksLikeArchive(head: Buffer): boolean {
  if (head.length >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return true;
  return (head[0] === 0x1f && head[1] === 0x8b) || (head[0] === 0x28 && head[1] === 0xb5) || (head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) || (head[0] === 0xfd && head[1] === 0x37);
}

