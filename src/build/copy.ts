// COPY and ADD: sources from a root (the context, a stage's image) written into a container's root
// with docker's rules, through `berth cp`'s code: the source walked by the archiver that only ever
// looks one name up in a directory it holds (engine/copy.ts archiveFromRoot), the tar rewritten on
// the way (owner, --chmod, names, what .dockerignore leaves out), and extracted by the layers' tar
// applier with every parent resolved inside the target root. The same walk, with times left out,
// gives the content hash the cache keys COPY by.
import { closeSync, chownSync, createReadStream, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { posix } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import type { CopyRoot } from '../engine/container-root.js';
import { archiveFromRoot, extractIntoRoot, statSource } from '../engine/copy.js';
import { native, RESOLVE } from '../kernel/native.js';
import { decompressedChunks, detectCompression, TarWriter, type TarEntryInput } from '../tar/index.js';
import { BuildError, openIn } from './context.js';
import type { IgnoreRules } from './dockerignore.js';

export interface Owner {
  uid: number;
  gid: number;
}

export interface CopyRequest {
  /** Paths inside `from` (for the context: already globbed and checked against .dockerignore). */
  sources: string[];
  /** Absolute inside the image (WORKDIR applied); a trailing `/` says it is a directory. */
  dest: string;
  /** Owner of what is copied and of the directories made for it (docker: 0:0 unless --chown). */
  owner: Owner;
  /** --chmod, applied to every entry copied. */
  chmod?: number;
  /** The context's rules: entries they leave out are not copied. */
  ignore?: IgnoreRules;
  /** ADD: a local archive (tar, gzip, bzip2, xz, zstd) is extracted into the destination. */
  extractArchives?: boolean;
  /** For messages: "COPY", "ADD". */
  instruction: string;
}

/** What each entry of a source becomes: renamed under `prefix`, owned, moded; null when left out. */
interface Rewrite {
  /** The source's path in its root, for .dockerignore (entries are named relative to it). */
  source: string;
  owner: Owner;
  chmod?: number;
  ignore?: IgnoreRules;
  prefix: string;
  zeroTimes: boolean;
}

/**
 * A TarWriter that rewrites each entry the archiver gives it before writing it: docker's COPY
 * owner and mode, no times when hashing, and .dockerignore's exclusions (an excluded directory is
 * written after all when an exception keeps something below it).
 */
class CopyEntries extends TarWriter {
  private readonly dropped = new Map<string, TarEntryInput>();

  constructor(
    sink: Writable,
    private readonly rewrite: Rewrite,
  ) {
    super(sink);
  }

  private map(input: TarEntryInput): TarEntryInput | null {
    const r = this.rewrite;
    const name = input.name.replace(/\/$/, '');
    const contextPath = name === '' ? r.source : r.source === '.' || r.source === '' ? name : `${r.source}/${name}`;
    const out: TarEntryInput = {
      ...input,
      name: r.prefix + name,
      uid: r.owner.uid,
      gid: r.owner.gid,
      uname: '',
      gname: '',
      ...(r.chmod !== undefined ? { mode: r.chmod } : {}),
      ...(r.zeroTimes ? { mtime: 0 } : {}),
    };
    if (input.type === 'hardlink' && input.linkname) out.linkname = r.prefix + input.linkname;
    if (r.ignore !== undefined && !r.ignore.empty && r.ignore.ignores(contextPath)) {
      if (input.type === 'dir') this.dropped.set(name, out);
      return null;
    }
    return out;
  }

  /** Writes the excluded directories above a kept entry, so that it has a place to land. */
  private async parentsOf(name: string): Promise<void> {
    if (this.dropped.size === 0) return;
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i += 1) {
      const dir = parts.slice(0, i).join('/');
      const entry = this.dropped.get(dir);
      if (entry !== undefined) {
        this.dropped.delete(dir);
        await super.add(entry);
      }
    }
  }

  override async add(input: TarEntryInput, body?: Buffer | string | AsyncIterable<Buffer | Uint8Array>): Promise<void> {
    const out = this.map(input);
    if (out === null) return;
    await this.parentsOf(input.name.replace(/\/$/, ''));
    await super.add(out, body);
  }

  override async addFile(input: TarEntryInput, file: string | number): Promise<void> {
    const out = this.map(input);
    if (out === null) return;
    await this.parentsOf(input.name);
    await super.addFile(out, file);
  }
}

/** A Writable that keeps nothing: the tar's own digest is the hash. */
function nowhere(): Writable {
  return new Writable({ write: (_chunk, _enc, done) => done() });
}

function sourcePath(source: string): string {
  return source === '' ? '.' : source;
}

/**
 * The content hash of COPY's sources: a tar of them as they would be copied (names, types, modes,
 * owners, link targets, contents; no times), so that touching a file does not miss the cache and
 * changing a byte does.
 */
export async function hashSources(from: CopyRoot, req: CopyRequest): Promise<{ digest: string; kind: 'file' | 'dir' | 'multi' }> {
  const tar = new TarWriter(nowhere());
  let kind: 'file' | 'dir' | 'multi' = 'multi';
  for (const source of req.sources) {
    const path = sourcePath(source);
    const info = statSource(from, path, true);
    if (req.sources.length === 1) kind = info.isDir ? 'dir' : 'file';
    const entries = new CopyEntries(nowhere(), { source, owner: req.owner, chmod: req.chmod, ignore: info.isDir ? req.ignore : undefined, prefix: '', zeroTimes: true });
    await archiveFromRoot(from, path, { followLink: true, topName: info.isDir ? '' : posix.basename(path) }, entries);
    const { digest } = await entries.finish();
    await tar.add({ name: `${info.isDir ? 'dir' : 'file'}:${source}`, type: 'file' }, digest);
  }
  return { digest: (await tar.finish()).digest, kind };
}

/** Whether `path` is a directory inside `root` (following symlinks there). */
function isDirectoryIn(root: CopyRoot, path: string): boolean {
  const fd = openIn(root, path, true);
  if (fd === null) return false;
  try {
    return fstatSync(fd).isDirectory();
  } finally {
    closeSync(fd);
  }
}

/**
 * Makes `path` inside `root` a directory, creating what is missing (0755, owned by `owner`, as
 * docker's COPY makes them) one name at a time in a parent it holds open.
 */
export function ensureDirectory(root: CopyRoot, path: string, owner: Owner): void {
  const parts = posix.normalize(path).split('/').filter((p) => p !== '' && p !== '.');
  let at = '/';
  for (const name of parts) {
    const next = posix.join(at, name);
    const fd = openIn(root, next, true);
    if (fd !== null) {
      const isDir = fstatSync(fd).isDirectory();
      closeSync(fd);
      if (!isDir) throw new BuildError(`${next} is not a directory`);
    } else {
      const parent = openIn(root, at, true);
      if (parent === null) throw new BuildError(`${at} is not there`);
      try {
        mkdirSync(`/proc/self/fd/${parent}/${name}`, { mode: 0o755 });
        chownSync(`/proc/self/fd/${parent}/${name}`, owner.uid, owner.gid);
      } finally {
        closeSync(parent);
      }
    }
    at = next;
  }
}

/** Whether a file of `root` is an archive ADD extracts: a tar, or compressed. */
function isArchive(root: CopyRoot, path: string): boolean {
  const fd = native.openat2(root.fd, path, 0, 0, RESOLVE.IN_ROOT);
  try {
    const head = Buffer.alloc(512);
    const n = readSync(fd, head, 0, 512, 0);
    if (n >= 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return true;
    return detectCompression(head.subarray(0, n)) !== 'none';
  } finally {
    closeSync(fd);
  }
}

/** A tar flowing from the source walk, rewritten, into the extraction in the target. */
async function pipeSource(from: CopyRoot, path: string, topName: string, rewrite: Rewrite, to: CopyRoot, dir: string): Promise<void> {
  const pipe = new PassThrough();
  const failed = (err: unknown) => {
    pipe.destroy(err as Error);
    throw err;
  };
  const tar = new CopyEntries(pipe, rewrite);
  await Promise.all([
    archiveFromRoot(from, path, { followLink: true, topName }, tar)
      .then(() => tar.finish())
      .catch(failed),
    extractIntoRoot(pipe, to, dir, { owners: true }).catch(failed),
  ]);
}

/** COPY/ADD: every source into the target root, with docker's rules for where each lands. */
export async function copySources(from: CopyRoot, to: CopyRoot, req: CopyRequest): Promise<void> {
  const destIsDir = req.dest.endsWith('/') || isDirectoryIn(to, req.dest);
  if (req.sources.length > 1 && !destIsDir) throw new BuildError(`When using ${req.instruction} with more than one source file, the destination must be a directory and end with a /`);
  for (const source of req.sources) {
    const path = sourcePath(source);
    const info = statSource(from, path, true);
    const rewrite: Rewrite = { source, owner: req.owner, chmod: req.chmod, ignore: info.isDir ? req.ignore : undefined, prefix: '', zeroTimes: false };
    if (info.isDir) {
      // A directory's contents, never the directory itself (docker's COPY).
      ensureDirectory(to, req.dest, req.owner);
      await pipeSource(from, path, '', rewrite, to, req.dest);
    } else if (req.extractArchives && isArchive(from, path)) {
      ensureDirectory(to, req.dest, req.owner);
      const fd = native.openat2(from.fd, path, 0, 0, RESOLVE.IN_ROOT);
      const file = openSync(`/proc/self/fd/${fd}`, 'r');
      closeSync(fd);
      await extractIntoRoot(decompressedChunks(createReadStream('', { fd: file })), to, req.dest, { owners: true });
    } else if (destIsDir) {
      ensureDirectory(to, req.dest, req.owner);
      await pipeSource(from, path, posix.basename(path), rewrite, to, req.dest);
    } else {
      const dir = posix.dirname(req.dest);
      ensureDirectory(to, dir, req.owner);
      await pipeSource(from, path, posix.basename(req.dest), rewrite, to, dir);
    }
  }
}
