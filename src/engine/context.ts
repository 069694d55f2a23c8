// What every operation of the engine works on: its stores (images, container records, volumes,
// networks), the runtime, and where each of a container's things is under the root. The
// operations (create.ts, start.ts, stop.ts, exec.ts, commit.ts, remove.ts) take this, never the
// Engine (engine.ts), which is only their face to the front ends.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageStore } from '../image/index.js';
import type { Runtime } from '../runtime/container.js';
import type { RootfsOverlay } from '../runtime/rootfs-mount.js';
import { overlayLayout, type OverlayOptions } from '../storage/overlay.js';
import type { ContainerRecord, ContainerStore } from './containers.js';
import { layerDirsOf, storageDir } from './layers.js';
import type { MonitorOptions, MonitorPaths } from './monitor.js';
import type { NetworkManager } from './network/index.js';
import type { VolumeStore } from './volumes.js';

/** Where the runtime keeps the engine's containers' live state (lost with /run: container.json says what is true). */
export const ENGINE_RUNTIME_ROOT = '/run/berth/runtime';

export interface EngineContext {
  readonly root: string;
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  readonly runtime: Runtime;
  readonly volumes: VolumeStore;
  readonly network: NetworkManager;
}

/**
 * The directories of a container's rootfs: the overlay's upper and work dirs, its mount point, and
 * its init layer — docker's idea: the mount points the engine binds over (/etc/hosts...) made in a
 * layer of their own between the image and the upper dir, so that they never show in diff or commit.
 */
export function containerPaths(dir: string) {
  return { upper: join(dir, 'upper'), work: join(dir, 'work'), rootfs: join(dir, 'rootfs'), bundle: join(dir, 'bundle'), init: join(dir, 'init'), monitor: join(dir, 'monitor') };
}

const INIT_DIRS = ['etc', 'proc', 'sys', 'dev'];
const INIT_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

export function makeInitLayer(initDir: string): void {
  for (const d of INIT_DIRS) mkdirSync(join(initDir, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) writeFileSync(join(initDir, f), '', { mode: 0o644 });
}

/** The paths of a container's directory. */
export function pathsOf(ctx: EngineContext, record: Pick<ContainerRecord, 'id'>) {
  return containerPaths(ctx.containers.containerDir(record.id));
}

/** The container's read-only layers, top first: its init layer, then the image's. */
export function lowerDirs(ctx: EngineContext, record: ContainerRecord): string[] {
  return [pathsOf(ctx, record).init, ...layerDirsOf(ctx.root, record.layers).reverse()];
}

/** The overlay of a container's layers (top first) under its own upper and work dirs. */
export function overlayOptions(ctx: EngineContext, record: ContainerRecord): OverlayOptions {
  const paths = pathsOf(ctx, record);
  return { lowerDirs: lowerDirs(ctx, record), upperDir: paths.upper, workDir: paths.work, target: paths.rootfs, linkDir: join(storageDir(ctx.root), 'l') };
}

/** The same overlay as the runtime's child mounts it (relative short names from `dir` when long). */
export function rootfsOverlay(ctx: EngineContext, record: ContainerRecord): RootfsOverlay {
  const layout = overlayLayout(overlayOptions(ctx, record));
  return { dir: layout.cwd ?? '/', lower: layout.lower, upper: layout.upper as string, work: layout.work as string };
}

/** The files of a container's monitor. */
export function monitorPaths(ctx: EngineContext, id: string): MonitorPaths {
  const dir = ctx.containers.containerDir(id);
  return {
    bundle: containerPaths(dir).bundle,
    log: join(dir, 'container.log'),
    pidFile: join(dir, 'monitor', 'pid'),
    conmonPidFile: join(dir, 'monitor', 'conmon.pid'),
    exitDir: join(ctx.root, 'exits'),
  };
}

export function monitorOptions(ctx: EngineContext, record: ContainerRecord): MonitorOptions {
  return {
    id: record.id,
    name: record.name,
    paths: monitorPaths(ctx, record.id),
    runtimeRoot: ENGINE_RUNTIME_ROOT,
    terminal: record.tty,
    stdin: record.openStdin,
    keepStdinOpen: !record.stdinOnce,
    berthRoot: ctx.root,
  };
}

/** An --explain callback: each step as the shell lines a person would type, before it is taken. */
export type Explain = (lines: string[]) => void;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
