// A container's filesystem as data: its changes over its image (`diff`), those changes as a new
// image layer (`commit`), or its whole merged tree as a tar (`export`).
import { createWriteStream, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { commitImage, imageConfig, type ContainerConfig, type ImageRecord } from '../image/index.js';
import type { ContainerRecord } from './containers.js';
import { pauseContainer } from './stop.js';
import { diffUpper, writeLayerFromUpper, type Change } from '../storage/diff.js';
import { mountOverlay } from '../storage/overlay.js';
import { TarWriter } from '../tar/index.js';
import { lowerDirs, pathsOf, type EngineContext } from './context.js';
import { recordContainerEvent } from './events.js';
import { storageDir } from './layers.js';

/** `berth diff`: the container's changes over its image (A, C, D). */
export function diffContainer(ctx: EngineContext, ref: string): Change[] {
  const record = ctx.containers.find(ref);
  return diffUpper(pathsOf(ctx, record).upper, lowerDirs(ctx, record));
}

/** `berth commit`: the container's upper dir as a new layer on its image, with a history entry. */
export interface CommitContainerOptions {
  /** Name for the new image. */
  ref?: string;
  comment?: string;
  author?: string;
  /** The history entry's created_by (default: the container's command, as docker commit). */
  createdBy?: string;
  /** A build step's image, kept as the build cache (ImageRecord.buildCache). */
  buildCache?: boolean;
  /** The new image's config (default: the container's image's, with the container's own command, env, workdir and user over it, as docker commit). */
  config?: ContainerConfig;
  /** Changes to the image's config (docker commit --change, parsed by the front end). */
  changeConfig?: (config: ContainerConfig) => ContainerConfig;
  /** Freeze a running container while its changes are read (docker commit's default). */
  pause?: boolean;
}

export async function commitContainer(ctx: EngineContext, ref: string, opts: CommitContainerOptions): Promise<ImageRecord> {
  const record = ctx.containers.find(ref);
  // The base: the caller's config, else the image's with the container's own over it (read once,
  // and only when a container config or a change needs it); then the changes over the base.
  const base = opts.config ?? (record.config || opts.changeConfig ? { ...(await imageConfig(ctx.images, record.imageId)).config, ...record.config } : undefined);
  const config = opts.changeConfig ? opts.changeConfig(structuredClone(base ?? {})) : base;
  // Paused only if running now; one that stops meanwhile is committed as it is.
  const paused = opts.pause === true && record.state.status === 'running' && (await pauseContainer(ctx, record.id, true).then(() => true, () => false));
  try {
    return await commitUpper(ctx, record, { ...opts, ...(config !== undefined ? { config } : {}) });
  } finally {
    if (paused) await pauseContainer(ctx, record.id, false);
  }
}

async function commitUpper(ctx: EngineContext, record: ContainerRecord, opts: CommitContainerOptions): Promise<ImageRecord> {
  const tmpDir = join(ctx.root, 'tmp');
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  const layerFile = join(tmpDir, `commit-${record.id.slice(0, 12)}-${process.pid}.tar`);
  try {
    const out = createWriteStream(layerFile);
    const tar = new TarWriter(out);
    // Finishing the tar ends and flushes the file.
    const layer = await writeLayerFromUpper(pathsOf(ctx, record).upper, lowerDirs(ctx, record), tar);
    const image = await commitImage(ctx.images, {
      parent: record.imageId,
      layers: [{ source: layerFile, diffID: layer.diffID }],
      history: { created_by: opts.createdBy ?? record.command.join(' '), comment: opts.comment },
      author: opts.author,
      ref: opts.ref,
      buildCache: opts.buildCache,
      ...(opts.config !== undefined ? { config: opts.config } : {}),
    });
    if (!opts.buildCache) recordContainerEvent(ctx.root, record, 'commit', { comment: opts.comment ?? '', imageID: image.id, imageRef: opts.ref ?? '' });
    return image;
  } finally {
    rmSync(layerFile, { force: true });
  }
}

/**
 * `berth export`: the container's merged filesystem as a tar. The view is a read-only overlay of
 * its upper dir over its layers, mounted for the moment of the walk and unmounted whatever happens.
 */
export async function exportContainer(ctx: EngineContext, ref: string, out: Writable): Promise<void> {
  const record = ctx.containers.find(ref);
  const dir = ctx.containers.containerDir(record.id);
  const view = join(dir, `export-${process.pid}`);
  mkdirSync(view);
  try {
    const mount = mountOverlay({ lowerDirs: [pathsOf(ctx, record).upper, ...lowerDirs(ctx, record)], target: view, linkDir: join(storageDir(ctx.root), 'l') });
    try {
      const tar = new TarWriter(out);
      await writeLayerFromUpper(view, [], tar);
      recordContainerEvent(ctx.root, record, 'export');
    } finally {
      mount.unmount({ detach: true });
    }
  } finally {
    rmdirSync(view);
  }
}
