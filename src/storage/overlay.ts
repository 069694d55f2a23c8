// A container's rootfs: an overlay of its image's layers (read-only, top first) under its own
// upper and work dirs.
//
// The kernel copies at most one page of mount data (4096 bytes with its NUL), and a layer's
// directory is ~100 bytes: absolute paths stop fitting at ~35 layers. So, like docker's overlay2
// driver, the lower dirs are named from a directory of short symlinks (`<linkDir>/<12 hex>` ->
// the layer dir), and the mount is made with that directory as the current one, lowerdir holding
// only the short names (13 bytes per layer: a 250-layer image still fits). The kernel resolves
// relative lowerdir paths against the mounting process' cwd, at mount time only.
import { createHash } from 'node:crypto';
import { mkdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { KernelError, fromNative } from '../kernel/errors.js';
import { native } from '../kernel/native.js';

/** One page of mount data, its NUL included. */
export const MOUNT_DATA_MAX = 4095;

export interface OverlayOptions {
  /** Read-only layers, top first. */
  lowerDirs: string[];
  /** Absent for a read-only overlay of the layers alone. */
  upperDir?: string;
  workDir?: string;
  target: string;
  /**
   * Where short symlinks to the layers may be made when absolute paths would not fit in one page
   * (berth: `<root>/storage/l`). Without it a long list is refused.
   */
  linkDir?: string;
}

/** What the mount(2) call gets: `data`, and the directory it must be made from when `cwd` is set. */
export interface OverlayLayout {
  /** The directory relative lowerdir names are resolved from, or null when all paths are absolute. */
  cwd: string | null;
  /** Lower dirs as they appear in lowerdir=, top first. */
  lower: string[];
  upper: string | null;
  work: string | null;
  /** The mount data: `lowerdir=A:B,upperdir=U,workdir=W`. */
  data: string;
}

function dataOf(lower: string[], upper: string | null, work: string | null): string {
  let data = `lowerdir=${lower.join(':')}`;
  if (upper !== null) data += `,upperdir=${upper},workdir=${work}`;
  return data;
}

function checkPath(path: string, what: string): void {
  if (!isAbsolute(path)) throw new Error(`overlay: ${what} ${JSON.stringify(path)} must be an absolute path`);
  // overlay's option parser splits on ',' and lowerdir on ':' (escapes exist, but layer paths never need them).
  if (/[,:\n]/.test(path)) throw new Error(`overlay: ${what} ${JSON.stringify(path)} holds a ',' or ':'`);
}

/** The short name of a layer dir: 12 hex digits of the sha256 of its absolute path. */
export function shortLayerName(layerDir: string): string {
  return createHash('sha256').update(resolve(layerDir)).digest('hex').slice(0, 12);
}

/** Makes (or checks) `<linkDir>/<short name>` -> layerDir; returns the short name. */
export function ensureLayerLink(linkDir: string, layerDir: string): string {
  const name = shortLayerName(layerDir);
  const link = join(linkDir, name);
  const target = resolve(layerDir);
  try {
    const existing = readlinkSync(link);
    if (existing === target) return name;
    throw new Error(`overlay: ${link} points to ${existing}, not ${target}`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err;
  }
  mkdirSync(linkDir, { recursive: true, mode: 0o700 });
  // Made under a temporary name and renamed: a concurrent maker sees the link whole or not at all.
  const tmp = `${link}.tmp-${process.pid}-${Date.now()}`;
  symlinkSync(target, tmp);
  try {
    renameSync(tmp, link);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
  return name;
}

/**
 * How an overlay is to be mounted: absolute paths when they fit in one page; otherwise short
 * symlinks in `linkDir` (made here when missing) and `cwd` set to it.
 */
export function overlayLayout(opts: OverlayOptions): OverlayLayout {
  if (opts.lowerDirs.length === 0) throw new Error('overlay: at least one lower dir is needed');
  if ((opts.upperDir === undefined) !== (opts.workDir === undefined)) throw new Error('overlay: upperDir and workDir go together');
  if (opts.upperDir === undefined && opts.lowerDirs.length < 2) throw new Error('overlay: without an upper dir, at least two lower dirs are needed');
  opts.lowerDirs.forEach((d) => checkPath(d, 'lower dir'));
  const upper = opts.upperDir ?? null;
  const work = opts.workDir ?? null;
  if (upper !== null) checkPath(upper, 'upper dir');
  if (work !== null) checkPath(work, 'work dir');
  const lower = opts.lowerDirs.map((d) => resolve(d));
  const data = dataOf(lower, upper, work);
  if (Buffer.byteLength(data) <= MOUNT_DATA_MAX) return { cwd: null, lower, upper, work, data };
  if (!opts.linkDir) {
    throw new Error(`overlay: mount data for ${lower.length} layers is ${Buffer.byteLength(data)} bytes, over one page; give a linkDir for short names`);
  }
  const cwd = resolve(opts.linkDir);
  const short = lower.map((d) => ensureLayerLink(cwd, d));
  const shortData = dataOf(short, upper, work);
  if (Buffer.byteLength(shortData) > MOUNT_DATA_MAX) {
    throw new Error(`overlay: ${lower.length} layers do not fit in one page of mount data even by short names`);
  }
  return { cwd, lower: short, upper, work, data: shortData };
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The shell line a person would type for this mount (for --explain). */
export function renderOverlayMount(opts: OverlayOptions | (OverlayLayout & { target: string })): string {
  const layout = 'data' in opts ? opts : overlayLayout(opts);
  const mount = `mount -t overlay overlay -o ${shellQuote(layout.data)} ${shellQuote(opts.target)}`;
  return layout.cwd ? `cd ${shellQuote(layout.cwd)} && ${mount}` : mount;
}

export interface OverlayMount {
  target: string;
  /** The mount data used (relative names when `cwd` is set). */
  mountData: string;
  cwd: string | null;
  /** umount2(target); with `detach`, MNT_DETACH (lazy) — also used when the mount is busy. */
  unmount(opts?: { detach?: boolean }): void;
}

const MNT_DETACH = 2;

/**
 * Mounts the overlay on `target`, in this process' mount namespace. When short names are needed
 * the process changes into `linkDir` for the one synchronous mount(2) call and back: no other
 * JavaScript runs meanwhile, but a relative path used at that instant by a libuv worker thread
 * would resolve there — berth uses absolute paths throughout.
 */
export function mountOverlay(opts: OverlayOptions): OverlayMount {
  const layout = overlayLayout(opts);
  const target = resolve(opts.target);
  const action = `mount overlay on ${target}`;
  const previous = layout.cwd ? process.cwd() : null;
  try {
    if (layout.cwd) process.chdir(layout.cwd);
    native.mount('overlay', target, 'overlay', 0, layout.data);
  } catch (err) {
    throw fromNative(err, action);
  } finally {
    if (previous !== null) process.chdir(previous);
  }
  let mounted = true;
  return {
    target,
    mountData: layout.data,
    cwd: layout.cwd,
    unmount(o: { detach?: boolean } = {}) {
      if (!mounted) return;
      try {
        native.umount2(target, o.detach ? MNT_DETACH : 0);
      } catch (err) {
        const e = fromNative(err, `umount ${target}`);
        if (e instanceof KernelError && e.code === 'EBUSY' && !o.detach) {
          native.umount2(target, MNT_DETACH);
        } else if (!(e instanceof KernelError && e.code === 'EINVAL')) {
          throw e; // EINVAL: not mounted any more
        }
      }
      mounted = false;
    },
  };
}
