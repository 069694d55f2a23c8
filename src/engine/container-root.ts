// The trees `berth cp` works in, each as an O_PATH fd of its "/" held for the moment of a copy:
// a running container's root as its process sees it, a stopped container's merged filesystem
// mounted for the moment on the host, or a directory of the host.
import { closeSync, existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { MS } from '../kernel/plan.js';
import { native } from '../kernel/native.js';
import { resolveInRoot } from '../runtime/root-path.js';
import { mountOverlay, type OverlayOptions } from '../storage/overlay.js';
import type { ContainerMount } from './mount-flags.js';
import { overlayOptions, type EngineContext } from './context.js';
import { join } from 'node:path';

/** A directory tree to copy from or into: an fd of its "/" (a container's root, or the host's). */
export interface CopyRoot {
  fd: number;
  /** For messages: "container web", "the host". */
  what: string;
}

const MNT_DETACH = 2;

/** `use` with an fd, closed after whatever happens. */
export async function withFdAsync<T>(fd: number, use: (fd: number) => Promise<T>): Promise<T> {
  try {
    return await use(fd);
  } finally {
    closeSync(fd);
  }
}

/** `use` with the root of a running process (/proc/PID/root: the container's "/" with its mounts). */
export async function withProcessRoot<T>(pid: number, what: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
  const fd = native.openPath(`/proc/${pid}/root`);
  return withFdAsync(fd, (f) => use({ fd: f, what }));
}

/** `use` with a tree of the host: `/`, or a destination directory that extraction must not leave. */
export async function withHostRoot<T>(dir: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
  const fd = native.openPath(dir);
  return withFdAsync(fd, (f) => use({ fd: f, what: dir === '/' ? 'the host' : dir }));
}

/**
 * `use` with a stopped container's "/": its overlay (upper over layers, writable) mounted on
 * `overlay.target` for the moment, and its volumes and binds mounted inside it where the container
 * has them (resolved inside the view), so a copy lands where the container will see it.
 */
export async function withStoppedRoot<T>(overlay: OverlayOptions, mounts: ContainerMount[], what: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
  mkdirSync(overlay.target);
  const binds: string[] = [];
  try {
    const view = mountOverlay(overlay);
    try {
      for (const m of [...mounts].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length)) {
        if (m.type === 'tmpfs') continue; // nothing of it outlives the container
        const at = resolveInRoot(view.target, m.destination);
        if (!existsSync(at)) {
          if (statSync(m.source).isDirectory()) mkdirSync(at, { recursive: true, mode: 0o755 });
          else continue;
        }
        native.mount(m.source, at, null, MS.BIND | MS.REC, null);
        binds.push(at);
        if (!m.rw) native.mount(null, at, null, MS.REMOUNT | MS.BIND | MS.RDONLY, null);
      }
      return await withHostRoot(view.target, (root) => use({ ...root, what }));
    } finally {
      for (const at of binds.reverse()) native.umount2(at, MNT_DETACH);
      view.unmount({ detach: true });
    }
  } finally {
    rmdirSync(overlay.target);
  }
}

/**
 * `berth cp`: `use` gets the container's "/" as an fd. A running container's is its process'
 * root (/proc/PID/root, its mounts and all); a stopped one's, a temporary overlay of its upper
 * dir over its layers, with its volumes and binds mounted in it, all unmounted whatever happens.
 */
export async function withContainerRoot<T>(ctx: EngineContext, ref: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
  const record = ctx.containers.find(ref);
  const what = `container ${record.name}`;
  let pid = 0;
  try {
    const state = ctx.runtime.state(record.id);
    if (state.status === 'running' || state.status === 'paused') pid = state.pid ?? 0;
  } catch {
    // No runtime state: not running, and the stopped container's tree is mounted below.
  }
  if (pid) return withProcessRoot(pid, what, use);
  const dir = ctx.containers.containerDir(record.id);
  return withStoppedRoot({ ...overlayOptions(ctx, record), target: join(dir, `cp-${process.pid}`) }, record.mounts ?? [], what, use);
}
