// The engine: containers from images. `run` turns an image and flags into a bundle and runs it
// with the runtime as a library, in this process (no daemon, no extra process per container).
import { createWriteStream, existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { commitImage, imageLayers, ImageStore, type ImageConfig, type ImageRecord } from '../image/index.js';
import { TarWriter } from '../tar/index.js';
import { diffUpper, writeLayerFromUpper, type Change } from '../storage/diff.js';
import type { Plan } from '../kernel/plan.js';
import type { CgroupOp } from '../cgroups/driver.js';
import { renderCgroupOps } from '../cgroups/explain.js';
import { renderPlan } from '../explain/render.js';
import { Runtime } from '../runtime/container.js';
import type { RootfsOverlay } from '../runtime/rootfs-mount.js';
import { mountOverlay, overlayLayout, renderOverlayMount, type OverlayOptions } from '../storage/overlay.js';
import { ContainerStore, type ContainerRecord } from './containers.js';
import { containerSpec, type RunOptions } from './container-spec.js';
import { writeContainerFiles } from './etc-files.js';
import { ensureLayers, layerDirsOf, readImageFile, storageDir } from './layers.js';
import { resolveUser } from './users.js';
import { applyNetworkNamespace, NetworkManager, type NetworkRequest } from './network/index.js';

/** Where the runtime keeps the engine's containers' live state (lost with /run: container.json says what is true). */
export const ENGINE_RUNTIME_ROOT = '/run/berth/runtime';

export interface EngineRunOptions extends RunOptions {
  image: string;
  name?: string;
  user?: string;
  rm: boolean;
  /** --explain: each step as a shell line, before it happens. */
  explain?: (lines: string[]) => void;
  /** networking: --network, -p... (network/options.ts); absent: a namespace with lo only. */
  network?: NetworkRequest;
}

/**
 * The directories of a container's rootfs: the overlay's upper and work dirs, its mount point, and
 * its init layer — docker's idea: the mount points the engine binds over (/etc/hosts...) made in a
 * layer of their own between the image and the upper dir, so that they never show in diff or commit.
 */
function containerPaths(dir: string) {
  return { upper: join(dir, 'upper'), work: join(dir, 'work'), rootfs: join(dir, 'rootfs'), bundle: join(dir, 'bundle'), init: join(dir, 'init') };
}

const INIT_DIRS = ['etc', 'proc', 'sys', 'dev'];
const INIT_FILES = ['etc/hostname', 'etc/hosts', 'etc/resolv.conf'];

function makeInitLayer(initDir: string): void {
  for (const d of INIT_DIRS) mkdirSync(join(initDir, d), { recursive: true, mode: 0o755 });
  for (const f of INIT_FILES) writeFileSync(join(initDir, f), '', { mode: 0o644 });
}

export class Engine {
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  readonly runtime: Runtime;
  readonly network: NetworkManager;

  constructor(readonly root: string) {
    this.images = new ImageStore(root);
    this.containers = new ContainerStore(root);
    this.runtime = new Runtime(ENGINE_RUNTIME_ROOT);
    this.network = new NetworkManager(root, {
      containerExists: (id) => existsSync(this.containers.containerDir(id)),
      resolveContainer: (ref) => this.containers.find(ref).id,
    });
  }

  /** The overlay of a container's layers (top first) under its own upper and work dirs. */
  private overlayOptions(record: ContainerRecord): OverlayOptions {
    const paths = containerPaths(this.containers.containerDir(record.id));
    return {
      lowerDirs: this.lowerDirs(record),
      upperDir: paths.upper,
      workDir: paths.work,
      target: paths.rootfs,
      linkDir: join(storageDir(this.root), 'l'),
    };
  }

  /** The container's read-only layers, top first: its init layer, then the image's. */
  private lowerDirs(record: ContainerRecord): string[] {
    return [containerPaths(this.containers.containerDir(record.id)).init, ...layerDirsOf(this.root, record.layers).reverse()];
  }

  /** The same overlay as the runtime's child mounts it (relative short names from `dir` when long). */
  private rootfsOverlay(record: ContainerRecord): RootfsOverlay {
    const layout = overlayLayout(this.overlayOptions(record));
    return { dir: layout.cwd ?? '/', lower: layout.lower, upper: layout.upper as string, work: layout.work as string };
  }

  /** Makes the container (its record, dirs and bundle) from the image; nothing runs yet. */
  async create(opts: EngineRunOptions): Promise<ContainerRecord> {
    const image = await imageLayers(this.images, opts.image);
    const layerDirs = await ensureLayers(this.images, this.root, image);
    const config: ImageConfig['config'] = image.config.config ?? {};
    const { id, name, dir } = this.containers.allocate(opts.name);
    const record: ContainerRecord = {
      id,
      name,
      created: new Date().toISOString(),
      image: opts.image,
      imageId: image.record.id,
      command: [],
      isolation: opts.isolation,
      layers: image.layers.map((l) => l.chainID),
      stopSignal: config.StopSignal,
      autoRemove: opts.rm,
      state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false },
    };
    try {
      const paths = containerPaths(dir);
      for (const d of [paths.upper, paths.work, paths.rootfs, paths.bundle]) mkdirSync(d, { mode: 0o755 });
      makeInitLayer(paths.init);
      const user = resolveUser(opts.user ?? config.User, (path) => readImageFile(layerDirs, path));
      const hostname = opts.hostname || id.slice(0, 12);
      const files = writeContainerFiles(dir, hostname);
      const spec = containerSpec({
        id,
        image: config,
        opts: { ...opts, hostname },
        user,
        rootfs: paths.rootfs,
        overlay: opts.isolation === 'chroot' ? null : this.rootfsOverlay(record),
        files,
      });
      // network: its namespace is made at start (a file under /run/netns), the host's, or another's
      const netns = await this.network.prepare({ id, name, hostname, hostsFile: files.hosts, resolvConfFile: files.resolvConf }, opts.network ?? { mode: { kind: 'none' }, ports: [], dns: [], extraHosts: [], aliases: [] }, config.ExposedPorts);
      applyNetworkNamespace(spec, netns);
      record.command = spec.process.args;
      writeFileSync(join(paths.bundle, 'config.json'), JSON.stringify(spec, null, 2));
      this.containers.save(record);
      return record;
    } catch (err) {
      await this.network.release(id); // network
      this.containers.remove(record);
      throw err;
    }
  }

  /**
   * Runs a created container in the foreground: its exit code (docker's: 126/127 for a program
   * that cannot be run), recorded; with --rm the container is removed after.
   */
  async start(record: ContainerRecord, explain?: (lines: string[]) => void): Promise<number> {
    const dir = this.containers.containerDir(record.id);
    const paths = containerPaths(dir);
    // chroot isolation has no mount namespace to mount the overlay in: the engine mounts it on the
    // host for the container's life, and unmounts it whatever happens.
    let hostMount = null;
    if (record.isolation === 'chroot') {
      explain?.([renderOverlayMount(this.overlayOptions(record))]);
      hostMount = mountOverlay(this.overlayOptions(record));
    }
    try {
      await this.network.setUp(record.id, explain); // network: before the process, all or nothing
      const onPlan = explain && ((plan: Plan, rootfs: string, cgroupOps: CgroupOp[]) => explain(renderRunPlan(plan, rootfs, cgroupOps)));
      const result = await this.runtime.run(record.id, {
        bundle: paths.bundle,
        onPlan,
        onStarted: (pid) => {
          record.state = { ...record.state, status: 'running', pid, startedAt: new Date().toISOString() };
          this.containers.save(record);
        },
      });
      record.state = { ...record.state, status: 'exited', pid: 0, exitCode: result.exitCode, oomKilled: result.oomKilled, finishedAt: new Date().toISOString() };
      return result.exitCode;
    } finally {
      // network: the process is gone (with --rm the container's network record goes too)
      await (record.autoRemove ? this.network.release(record.id, explain) : this.network.tearDown(record.id, explain));
      hostMount?.unmount({ detach: true });
      if (record.state.status !== 'exited') record.state = { ...record.state, status: 'exited', finishedAt: new Date().toISOString() };
      if (record.autoRemove) this.containers.remove(record);
      else this.containers.save(record);
    }
  }

  /** `berth diff`: the container's changes over its image (A, C, D). */
  diff(ref: string): Change[] {
    const record = this.containers.find(ref);
    return diffUpper(containerPaths(this.containers.containerDir(record.id)).upper, this.lowerDirs(record));
  }

  /** `berth commit`: the container's upper dir as a new layer on its image, with a history entry. */
  async commit(ref: string, opts: { ref?: string; comment?: string; author?: string }): Promise<ImageRecord> {
    const record = this.containers.find(ref);
    const tmpDir = join(this.root, 'tmp');
    mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
    const layerFile = join(tmpDir, `commit-${record.id.slice(0, 12)}-${process.pid}.tar`);
    try {
      const out = createWriteStream(layerFile);
      const tar = new TarWriter(out);
      // Finishing the tar ends and flushes the file.
      const layer = await writeLayerFromUpper(containerPaths(this.containers.containerDir(record.id)).upper, this.lowerDirs(record), tar);
      return await commitImage(this.images, {
        parent: record.imageId,
        layers: [{ source: layerFile, diffID: layer.diffID }],
        history: { created_by: record.command.join(' '), comment: opts.comment },
        author: opts.author,
        ref: opts.ref,
      });
    } finally {
      rmSync(layerFile, { force: true });
    }
  }

  /**
   * `berth export`: the container's merged filesystem as a tar. The view is a read-only overlay of
   * its upper dir over its layers, mounted for the moment of the walk and unmounted whatever happens.
   */
  async exportContainer(ref: string, out: Writable): Promise<void> {
    const record = this.containers.find(ref);
    const dir = this.containers.containerDir(record.id);
    const view = join(dir, `export-${process.pid}`);
    mkdirSync(view);
    try {
      const mount = mountOverlay({
        lowerDirs: [containerPaths(dir).upper, ...this.lowerDirs(record)],
        target: view,
        linkDir: join(storageDir(this.root), 'l'),
      });
      try {
        const tar = new TarWriter(out);
        await writeLayerFromUpper(view, [], tar);
      } finally {
        mount.unmount({ detach: true });
      }
    } finally {
      rmdirSync(view);
    }
  }

  /** Removes containers that are not running (with `force`, kills them first). */
  async remove(ref: string, force: boolean): Promise<ContainerRecord> {
    const record = this.containers.find(ref);
    let live = false;
    try {
      live = this.runtime.state(record.id).status !== 'stopped';
    } catch {
      // no runtime state: not running
    }
    if (live && !force) throw new Error(`cannot remove container ${record.name}: it is running; stop it first or use rm -f`);
    try {
      await this.runtime.delete(record.id, true);
    } catch {
      // already gone from the runtime
    }
    await this.network.release(record.id); // network
    this.containers.remove(record);
    return record;
  }
}

/** --explain for a run: the cgroup's writes, then the child's steps (the overlay mount among them). */
function renderRunPlan(plan: Plan, rootfs: string, cgroupOps: CgroupOp[]): string[] {
  return [...renderCgroupOps(cgroupOps), ...renderPlan(plan, { rootfs })];
}
