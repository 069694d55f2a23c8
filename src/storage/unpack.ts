// The layer applier: a layer tar (plain, gzip or zstd) unpacked into its own directory, OCI
// whiteouts turned into overlayfs' form, nothing ever written outside the target. The entries are
// made by the tar applier (apply.ts); this file says where, in a directory private to it.
//
// Safety, following containerd's applier:
// - an entry name is joined to the root and cleaned; one that climbs out ("../x", "a/../../x") is
//   refused. A leading "/" is dropped ("/etc/x" is etc/x), as docker and containerd do;
// - a parent path is resolved inside the root, as securejoin does: a symlink met on the way is
//   read and followed with the root as "/", so "dir -> /etc" then "dir/x" writes ROOT/etc/x;
//   the final component is never followed (an existing entry there is replaced, not written through);
// - whiteouts and hardlink targets never go through a symlinked parent at all: refused.
// The target must be private to the applier while it runs (berth unpacks into a fresh temp dir):
// the directories it checked are remembered, not checked again for each entry.
//
// Speed: decompression and the diffID's sha256 run in a worker thread (src/tar/offload.ts), ahead
// of the applier, which makes entries with sync calls, one promise per input chunk.
import { randomBytes } from 'node:crypto';
import { lstatSync, lutimesSync, mkdirSync, readlinkSync, realpathSync, renameSync, rmSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { BerthError, errnoCodeOf, type ErrorKind, isMissing } from '../errors.js';
import type { ByteSource } from '../tar/compression.js';
import { uncompressedWithDigest } from '../tar/offload.js';
import { applyTar, Refused, TarApplier, type ApplyTarget, type DirectoryUse, type TargetDir } from './apply.js';

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

const MAX_SYMLINKS = 40;

/** A layer's directory, private to the applier while it runs: paths, with what was checked remembered. */
class LayerDir implements ApplyTarget {
  readonly outside = 'escapes the layer';
  /** Layer-relative paths known to be real directories (not symlinks). '' is the root. */
  private readonly realDirs = new Set<string>(['']);

  constructor(private readonly root: string) {}

  directory(rel: string, use: DirectoryUse): TargetDir {
    const resolved = use === 'entry' ? this.resolveParent(rel) : this.strictParent(rel, use, use !== 'hardlink target');
    return { rel: resolved, path: this.abs(resolved), release: () => undefined };
  }

  /** What is in the way goes, a whole tree for a directory, with what was known below it. */
  clear(dir: TargetDir, name: string, existingIsDir: boolean): void {
    const target = dir.rel === '' ? name : `${dir.rel}/${name}`;
    const path = this.abs(target);
    if (!existingIsDir) {
      unlinkSync(path);
      return;
    }
    rmSync(path, { recursive: true, force: true });
    const prefix = `${target}/`;
    this.realDirs.delete(target);
    for (const d of this.realDirs) if (d.startsWith(prefix)) this.realDirs.delete(d);
  }

  madeDirectory(rel: string): void {
    this.realDirs.add(rel);
  }

  setDirectoryTime(rel: string, mtime: number): void {
    try {
      lutimesSync(this.abs(rel), mtime, mtime);
    } catch (err) {
      if (errnoCodeOf(err) !== 'ENOENT') throw err;
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** What a component is; a missing one is made (a 0755 directory) when `create`. Directories are remembered. */
  private kindOf(candidate: string, create: boolean): 'dir' | 'symlink' | 'other' | 'missing' {
    if (this.realDirs.has(candidate)) return 'dir';
    const path = this.abs(candidate);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch (err) {
      if (errnoCodeOf(err) !== 'ENOENT') throw err;
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
  const applier = new TarApplier(new LayerDir(realpathSync(targetDir)), { owners: opts.preserveOwners ?? process.geteuid?.() === 0, whiteouts: true });
  const input = uncompressedWithDigest(source);
  await applyTar(input.chunks, applier, (reason, entry, cause) => new LayerError(layer, entry, reason, cause === undefined ? undefined : { cause }));
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
    } catch (err) {
      if (!isMissing(err)) throw err;
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
      const code = errnoCodeOf(err);
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
