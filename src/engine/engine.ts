// The engine: containers from images. `create` turns an image and flags into a bundle; a container
// then runs either in the foreground of a `berth run` process, with the runtime as a library (no
// daemon, no extra process), or detached under its own monitor, conmon (monitor.ts), which
// outlives berth and calls `berth container cleanup` when the container exits. Every berth
// command that finds a container said to run whose process is gone settles its exit first, so a
// crash of berth or the loss of /run never leaves a record that lies.
import { closeSync, createWriteStream, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { commitImage, imageLayers, ImageStore, type ImageConfig, type ImageRecord } from '../image/index.js';
import { TarWriter } from '../tar/index.js';
import { diffUpper, writeLayerFromUpper, type Change } from '../storage/diff.js';
import type { Plan } from '../kernel/plan.js';
import type { CgroupOp } from '../cgroups/driver.js';
import { renderPlan } from '../explain/render.js';
import { renderRunPlan } from '../runtime/explain.js';
import { Socket } from 'node:net';
import { native } from '../kernel/native.js';
import { exitCodeOf, Runtime } from '../runtime/container.js';
import { proxyConsole } from '../runtime/console.js';
import type { Spec } from '../oci/runtime-spec.js';
import { parseSignal, startTimeOf, waitGone } from '../runtime/processes.js';
import type { RootfsOverlay } from '../runtime/rootfs-mount.js';
import { mountOverlay, overlayLayout, renderOverlayMount, type OverlayOptions } from '../storage/overlay.js';
import { ContainerStore, ContainerStoreError, type ContainerRecord } from './containers.js';
import { conmonArgv, readExitFile, removeExitFile, SOCKET_DIR, startMonitor, type MonitorOptions, type MonitorPaths } from './monitor.js';
import { NO_RESTART, shouldRestart, type RestartPolicy } from './restart-policy.js';
import { addWaiter, hasLiveWaiter, pruneExitDir } from './exit-waiters.js';
import { holderAlive, holderId } from '../fs/lock.js';
import { LogWriter } from './logs.js';
import { containerSpec, EngineUsageError, type RunOptions } from './container-spec.js';
import { writeContainerFiles } from './etc-files.js';
import { ensureLayers, layerDirsOf, readImageFile, storageDir } from './layers.js';
import { resolveUser } from './users.js';
import { withImageVolumes, type MountRequest } from './mount-flags.js';
import { prepareMounts, VolumeStore } from './volumes.js';
import { withProcessRoot, withStoppedRoot, type CopyRoot } from './container-root.js';
import { applyNetworkNamespace, NetworkManager, type NetworkRequest } from './network/index.js';

/** Where the runtime keeps the engine's containers' live state (lost with /run: container.json says what is true). */
export const ENGINE_RUNTIME_ROOT = '/run/berth/runtime';

export interface EngineRunOptions extends RunOptions {
  image: string;
  name?: string;
  user?: string;
  rm: boolean;
  labels?: Record<string, string>;
  restart?: RestartPolicy;
  stopSignal?: string;
  /** Run under conmon: `run -d`, `create`, `run -it` (detachable), a restart policy. */
  monitored?: boolean;
  /** -i: keep stdin open for attach. */
  interactive?: boolean;
  /** -d: nobody attaches at the start. */
  detach?: boolean;
  /** -v/--mount/--tmpfs, parsed (parseMountFlags). */
  mounts?: MountRequest[];
  /** --explain: each step as a shell line, before it happens. */
  explain?: (lines: string[]) => void;
  /** networking: --network, -p... (network/options.ts); absent: a namespace with lo only. */
  network?: NetworkRequest;
}

export interface ExecOptions {
  command: string[];
  env: string[];
  workdir?: string;
  user?: string;
  tty: boolean;
  interactive: boolean;
  detach: boolean;
  explain?: (lines: string[]) => void;
}

/** docker stop's default grace period, seconds. */
export const DEFAULT_STOP_TIMEOUT = 10;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a monitor may take to write the exit file once the container's process is gone. */
const EXIT_FILE_WAIT_MS = 5_000;


/**
 * The directories of a container's rootfs: the overlay's upper and work dirs, its mount point, and
 * its init layer — docker's idea: the mount points the engine binds over (/etc/hosts...) made in a
 * layer of their own between the image and the upper dir, so that they never show in diff or commit.
 */
function containerPaths(dir: string) {
  return { upper: join(dir, 'upper'), work: join(dir, 'work'), rootfs: join(dir, 'rootfs'), bundle: join(dir, 'bundle'), init: join(dir, 'init'), monitor: join(dir, 'monitor') };
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
  readonly volumes: VolumeStore;
  readonly network: NetworkManager;

  constructor(readonly root: string) {
    this.images = new ImageStore(root);
    this.containers = new ContainerStore(root);
    this.runtime = new Runtime(ENGINE_RUNTIME_ROOT);
    this.volumes = new VolumeStore(root);
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
    if (opts.mounts?.length && opts.isolation === 'chroot') throw new EngineUsageError('-v/--mount/--tmpfs need a mount namespace: they cannot go with --isolation chroot');
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
      stopSignal: opts.stopSignal ?? config.StopSignal,
      autoRemove: opts.rm,
      labels: { ...(config.Labels ?? {}), ...(opts.labels ?? {}) },
      restartPolicy: opts.restart ?? NO_RESTART,
      restartCount: 0,
      monitored: opts.monitored ?? false,
      tty: opts.terminal,
      openStdin: opts.interactive ?? false,
      stdinOnce: (opts.interactive ?? false) && !opts.detach && !opts.terminal,
      init: opts.init !== undefined,
      state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false },
    };
    if (record.monitored && opts.isolation === 'chroot') {
      this.containers.remove(record);
      throw new ContainerStoreError('--isolation chroot runs in the foreground only: its rootfs is a host mount that lives as long as the berth process');
    }
    try {
      const paths = containerPaths(dir);
      for (const d of [paths.upper, paths.work, paths.rootfs, paths.bundle]) mkdirSync(d, { mode: 0o755 });
      makeInitLayer(paths.init);
      const user = resolveUser(opts.user ?? config.User, (path) => readImageFile(layerDirs, path));
      const hostname = opts.hostname || id.slice(0, 12);
      const files = writeContainerFiles(dir, hostname);
      // Volumes are made (and copied up from the image) before the spec that mounts them.
      const requests = opts.isolation === 'chroot' ? [] : withImageVolumes(opts.mounts ?? [], Object.keys(config.Volumes ?? {}), opts.image);
      const userMounts = await prepareMounts(this.volumes, requests, { lowerDirs: this.lowerDirs(record), linkDir: join(storageDir(this.root), 'l'), mountPoint: join(dir, 'copyup') });
      record.mounts = userMounts.recorded;
      const spec = containerSpec({
        id,
        image: config,
        opts: { ...opts, hostname },
        user,
        rootfs: paths.rootfs,
        overlay: opts.isolation === 'chroot' ? null : this.rootfsOverlay(record),
        files,
        userMounts: userMounts.mounts,
      });
      // Its network namespace is made at start (a file under /run/netns), or it is the host's or another's.
      const netns = await this.network.prepare({ id, name, hostname, hostsFile: files.hosts, resolvConfFile: files.resolvConf }, opts.network ?? { mode: { kind: 'none' }, ports: [], dns: [], extraHosts: [], aliases: [] }, config.ExposedPorts);
      applyNetworkNamespace(spec, netns);
      record.command = opts.init ? spec.process.args.slice(2) : spec.process.args; // as docker shows it: without its init
      writeFileSync(join(paths.bundle, 'config.json'), JSON.stringify(spec, null, 2));
      this.containers.save(record);
      return record;
    } catch (err) {
      await this.removeFiles(record, true);
      throw err;
    }
  }

  /**
   * Runs a created container in the foreground of this process: its exit code (docker's: 126/127
   * for a program that cannot be run), recorded; with --rm the container is removed after. `io`
   * gives it another stdin than ours and sends its output elsewhere than ours (to its log too).
   */
  async runForeground(record: ContainerRecord, explain?: (lines: string[]) => void, io?: ForegroundIO): Promise<number> {
    const dir = this.containers.containerDir(record.id);
    const paths = containerPaths(dir);
    // chroot isolation has no mount namespace to mount the overlay in: the engine mounts it on the
    // host for the container's life, and unmounts it whatever happens.
    let hostMount = null;
    if (record.isolation === 'chroot') {
      explain?.([renderOverlayMount(this.overlayOptions(record))]);
      hostMount = mountOverlay(this.overlayOptions(record));
    }
    const log = new LogWriter(this.monitorPaths(record.id).log);
    const output = record.tty ? null : teeOutput(log, io);
    try {
      await this.network.setUp(record.id, explain); // before the process, all or nothing
      const onPlan = explain && ((plan: Plan, rootfs: string, cgroupOps: CgroupOp[]) => explain(renderRunPlan(plan, rootfs, cgroupOps)));
      const result = await this.runtime.run(record.id, {
        bundle: paths.bundle,
        onPlan,
        stdio: output ? [io?.stdin ?? 0, output.stdoutFd, output.stderrFd] : undefined,
        onConsoleOutput: (chunk) => log.write('stdout', chunk),
        onStarted: (pid) => {
          output?.closeContainerEnds();
          record.state = { ...record.state, status: 'running', pid, startedAt: new Date().toISOString(), foreground: holderId() };
          this.containers.save(record);
        },
      });
      await output?.drained();
      record.state = { ...record.state, status: 'exited', pid: 0, exitCode: result.exitCode, oomKilled: result.oomKilled, finishedAt: new Date().toISOString() };
      return result.exitCode;
    } finally {
      output?.closeContainerEnds();
      log.close();
      // The process is gone: its network goes down (with --rm, its network record too, in removeFiles).
      if (!record.autoRemove) await this.network.tearDown(record.id, explain);
      hostMount?.unmount({ detach: true });
      if (record.state.status !== 'exited') record.state = { ...record.state, status: 'exited', finishedAt: new Date().toISOString() };
      if (record.autoRemove) await this.removeFiles(record, true, explain);
      else this.containers.save(record);
    }
  }

  /** The files of a container's monitor. */
  monitorPaths(id: string): MonitorPaths {
    const dir = this.containers.containerDir(id);
    return {
      bundle: containerPaths(dir).bundle,
      log: join(dir, 'container.log'),
      pidFile: join(dir, 'monitor', 'pid'),
      conmonPidFile: join(dir, 'monitor', 'conmon.pid'),
      exitDir: join(this.root, 'exits'),
    };
  }

  private monitorOptions(record: ContainerRecord): MonitorOptions {
    return {
      id: record.id,
      name: record.name,
      paths: this.monitorPaths(record.id),
      runtimeRoot: ENGINE_RUNTIME_ROOT,
      terminal: record.tty,
      stdin: record.openStdin,
      keepStdinOpen: !record.stdinOnce,
      berthRoot: this.root,
    };
  }

  /**
   * Starts a container under its monitor and returns once its process runs (`start`, `run -d`).
   * `beforeStart` runs between the runtime's create and its start: an attach client connects
   * there, so that it misses no output.
   */
  async start(ref: string, opts: { beforeStart?: (record: ContainerRecord) => Promise<void>; explain?: (lines: string[]) => void } = {}): Promise<ContainerRecord> {
    const { id } = this.containers.find(ref);
    const started = await this.containers.locked(id, async (record) => {
      const settled = await this.settle(record);
      if (!settled) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
      if (settled.state.status === 'running' || settled.state.status === 'paused') return settled; // docker: starting a running container is a no-op
      settled.restartCount = 0;
      await this.startMonitored(settled, opts);
      return settled;
    });
    if (!started) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
    return started;
  }

  /** Under the container's lock: conmon, the runtime's create through it, then start. */
  private async startMonitored(record: ContainerRecord, opts: { beforeStart?: (record: ContainerRecord) => Promise<void>; explain?: (lines: string[]) => void } = {}): Promise<void> {
    if (record.isolation === 'chroot') throw new ContainerStoreError(`cannot start container ${record.name}: --isolation chroot containers run in the foreground only (berth run)`);
    await this.deleteRuntimeLeftovers(record);
    mkdirSync(containerPaths(this.containers.containerDir(record.id)).monitor, { recursive: true, mode: 0o700 });
    const monitor = this.monitorOptions(record);
    if (opts.explain) await this.explainMonitored(record, monitor, opts.explain);
    record.state = { ...record.state, stoppedByUser: false, error: undefined };
    record.monitored = true; // a container first run in the foreground, started again: detached now
    try {
      await this.network.setUp(record.id, opts.explain); // before the process, all or nothing
      const { pid } = await startMonitor(monitor);
      record.state = { ...record.state, pid };
      await opts.beforeStart?.(record);
      await this.runtime.start(record.id);
      record.state = { status: 'running', pid, exitCode: 0, oomKilled: false, startedAt: new Date().toISOString() };
      this.containers.save(record);
    } catch (err) {
      await this.deleteRuntimeLeftovers(record);
      await this.network.tearDown(record.id);
      record.state = { ...record.state, status: record.state.startedAt ? 'exited' : 'created', pid: 0, error: (err as Error).message };
      this.containers.save(record);
      throw err;
    }
  }

  /** --explain for a monitored start: conmon's command line, then what the runtime will do. */
  private async explainMonitored(record: ContainerRecord, monitor: MonitorOptions, explain: (lines: string[]) => void): Promise<void> {
    const argv = conmonArgv(monitor).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
    explain([`# the monitor: conmon runs the runtime's create, then waits for the container`, argv.join(' ')]);
    await this.runtime.create(record.id, {
      bundle: this.monitorPaths(record.id).bundle,
      dryRun: true,
      onPlan: (plan, rootfs, cgroupOps) => explain(renderRunPlan(plan, rootfs, cgroupOps)),
    });
  }

  /**
   * A previous run's runtime state (a crash between create and start, a run whose exit was never
   * settled): killed and deleted, after its monitor has written its exit file, so that a late
   * exit file of the old run cannot be taken for the new run's.
   */
  private async deleteRuntimeLeftovers(record: ContainerRecord): Promise<void> {
    let existed = false;
    try {
      await this.runtime.delete(record.id, true);
      existed = true;
    } catch {
      // no runtime state: nothing to delete
    }
    if (existed) await this.awaitMonitorExit(record);
    removeExitFile(this.monitorPaths(record.id), record.id);
  }

  /** conmon's pid and start time while it lives. */
  private monitorProcess(id: string): { pid: number; startTime: string } | null {
    try {
      const pid = Number(readFileSync(this.monitorPaths(id).conmonPidFile, 'utf8').trim());
      const startTime = pid > 0 ? startTimeOf(pid) : null;
      return startTime === null ? null : { pid, startTime };
    } catch {
      return null;
    }
  }

  /** Waits until the monitor has written the exit file, or is gone. */
  private async awaitMonitorExit(record: ContainerRecord): Promise<number | null> {
    const paths = this.monitorPaths(record.id);
    const deadline = Date.now() + EXIT_FILE_WAIT_MS;
    for (;;) {
      const code = readExitFile(paths, record.id);
      if (code !== null || this.monitorProcess(record.id) === null || Date.now() > deadline) return code;
      await sleep(5);
    }
  }

  /** Whether the container's process is alive, by the runtime's state (gone with /run: not alive). */
  private runtimeStatus(id: string): 'created' | 'running' | 'paused' | 'stopped' | null {
    try {
      const status = this.runtime.state(id).status;
      return status === 'creating' ? 'created' : status;
    } catch {
      return null;
    }
  }

  /**
   * Under the container's lock: a record that says running whose process is gone gets its exit
   * recorded (conmon's exit file; unknown when berth or the monitor died with it), its runtime
   * state and cgroup removed, and then what its restart policy and --rm say. Returns the record
   * as it now is, or null once removed.
   */
  private async settle(record: ContainerRecord): Promise<ContainerRecord | null> {
    if (record.state.status === 'created' && record.monitored) {
      const live = this.runtimeStatus(record.id);
      if (live === null || live === 'created') return record;
      // Its process was released by a start whose berth died before recording it: running from
      // here on, and settled below like any running container.
      record.state = { ...record.state, status: 'running', pid: this.runtime.state(record.id).pid ?? 0, startedAt: new Date().toISOString() };
      this.containers.save(record);
    }
    if (record.state.status !== 'running' && record.state.status !== 'paused') return record;
    const live = this.runtimeStatus(record.id);
    if (live === 'running' || live === 'paused') {
      if (live !== record.state.status) {
        record.state.status = live;
        this.containers.save(record);
      }
      return record;
    }
    if (!record.monitored) {
      const recorded = await this.awaitForegroundExit(record);
      if (recorded !== undefined) return recorded;
    }
    let exitCode: number | null = null;
    let error: string | undefined;
    if (record.monitored) {
      exitCode = await this.awaitMonitorExit(record);
      if (exitCode === null) error = 'its monitor (conmon) ended without recording an exit status';
    } else {
      error = 'the berth process running it in the foreground ended before it';
    }
    let oomKilled = false;
    try {
      oomKilled = (await this.runtime.delete(record.id, true)).oomKilled;
    } catch {
      // its runtime state went with /run
    }
    removeAttachLink(record.id);
    await this.network.tearDown(record.id);
    record.state = {
      ...record.state,
      status: 'exited',
      pid: 0,
      exitCode: exitCode ?? 255,
      oomKilled,
      finishedAt: new Date().toISOString(),
      error,
    };
    if (record.monitored && shouldRestart(record.restartPolicy, { exitCode: record.state.exitCode, restartCount: record.restartCount, stoppedByUser: record.state.stoppedByUser ?? false })) {
      record.restartCount += 1;
      this.containers.save(record);
      try {
        await this.startMonitored(record);
      } catch {
        // recorded in state.error by startMonitored; the container stays exited
      }
      return record;
    }
    if (record.autoRemove) {
      // The exit file stays while an attached `run --rm` or a `berth wait` still waits for it.
      await this.removeFiles(record, true);
      if (!hasLiveWaiter(this.monitorPaths(record.id).exitDir, record.id)) removeExitFile(this.monitorPaths(record.id), record.id);
      return null;
    }
    this.containers.save(record);
    return record;
  }

  /**
   * While the foreground `berth run` of a container lives, it records the exit itself: waited for
   * (it may be finishing right now). The record as it then is, or undefined when that process is
   * gone without doing so (killed), and the exit is to be settled here.
   */
  private async awaitForegroundExit(record: ContainerRecord): Promise<ContainerRecord | null | undefined> {
    const deadline = Date.now() + EXIT_FILE_WAIT_MS;
    for (;;) {
      const now = this.containers.tryLoad(record.id);
      if (!now) return null; // --rm: removed by its berth
      if (now.state.status === 'exited') return now;
      if (!holderAlive(now.state.foreground ?? '') || Date.now() > deadline) return undefined;
      await sleep(10);
    }
  }

  /** The monitor's exit command (`berth container cleanup ID`): the exit's bookkeeping. */
  async cleanup(id: string): Promise<void> {
    await this.containers.locked(id, (record) => this.settle(record));
    pruneExitDir(this.monitorPaths(id).exitDir, new Set(this.containers.ids()));
  }

  /** A container's record, with its exit settled if its process is gone. */
  async inspect(ref: string): Promise<ContainerRecord> {
    return this.settled(ref, this.containers.find(ref).id);
  }

  /** Every container, each settled. */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const record of this.containers.list()) {
      const unsettled = record.state.status === 'running' || record.state.status === 'paused' || (record.state.status === 'created' && record.monitored);
      const settled = unsettled ? await this.containers.locked(record.id, (r) => this.settle(r)) : record;
      if (settled) out.push(settled);
    }
    return out;
  }

  /**
   * `berth stop`: the image's stop signal (SIGTERM by default), then after `timeoutSec` SIGKILL to
   * every process of the container. Resolves once the exit is recorded.
   */
  async stop(ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
    const { id } = this.containers.find(ref);
    const record = await this.containers.locked(id, async (r) => {
      const settled = await this.settle(r);
      if (!settled || (settled.state.status !== 'running' && settled.state.status !== 'paused')) return null;
      settled.state.stoppedByUser = true;
      this.containers.save(settled);
      return settled;
    });
    if (!record) return this.settled(ref, id);
    const signal = parseSignal(record.stopSignal ?? 'SIGTERM');
    try {
      await this.runtime.kill(id, signal);
      if (record.state.status === 'paused') await this.runtime.resume(id); // a frozen process cannot act on its signal
    } catch {
      // it exited meanwhile
    }
    if (!(await this.waitProcessGone(id, timeoutSec * 1000))) {
      try {
        await this.runtime.kill(id, 9, true);
      } catch {
        // it exited meanwhile
      }
      await this.waitProcessGone(id, 10_000);
    }
    return this.settled(ref, id);
  }

  /** The container's record once settled; an error naming `ref` when it is gone (a --rm container after its exit, as docker's). */
  private async settled(ref: string, id: string): Promise<ContainerRecord> {
    const record = await this.containers.locked(id, (r) => this.settle(r));
    if (record) return record;
    throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
  }

  private async waitProcessGone(id: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      const status = this.runtimeStatus(id);
      if (status === null || status === 'stopped') return true;
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
  }

  /** `berth kill -s SIG`. A terminating signal counts as a user's stop for restart policies, as docker's. */
  async kill(ref: string, signalText = 'SIGKILL'): Promise<void> {
    const signal = parseSignal(signalText);
    const record = await this.inspect(ref);
    if (record.state.status !== 'running' && record.state.status !== 'paused') throw new ContainerStoreError(`cannot kill container ${record.name}: it is not running`);
    if ([1, 2, 3, 9, 15].includes(signal)) {
      await this.containers.locked(record.id, async (r) => {
        r.state.stoppedByUser = true;
        this.containers.save(r);
      });
    }
    await this.runtime.kill(record.id, signal);
  }

  async restart(ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
    await this.stop(ref, timeoutSec);
    return this.start(ref);
  }

  async pause(ref: string): Promise<void> {
    const { id } = this.containers.find(ref);
    await this.containers.locked(id, async (r) => {
      const record = await this.settle(r);
      if (!record || record.state.status !== 'running') throw new ContainerStoreError(`cannot pause container ${ref}: it is not running`);
      await this.runtime.pause(id);
      record.state.status = 'paused';
      this.containers.save(record);
    });
  }

  async unpause(ref: string): Promise<void> {
    const { id } = this.containers.find(ref);
    await this.containers.locked(id, async (r) => {
      const record = await this.settle(r);
      if (!record || record.state.status !== 'paused') throw new ContainerStoreError(`cannot unpause container ${ref}: it is not paused`);
      await this.runtime.resume(id);
      record.state.status = 'running';
      this.containers.save(record);
    });
  }

  /** `berth wait`: its exit code once it has exited. */
  async wait(ref: string): Promise<number> {
    const watch = this.watchExit(this.containers.find(ref).id);
    try {
      return await watch.wait();
    } finally {
      watch.release();
    }
  }

  /**
   * A waiter for the container's exit status, registered now: an attached `run` registers before
   * the container starts, so that a --rm container removed at its exit still leaves it the status.
   */
  watchExit(id: string): { wait: () => Promise<number>; release: () => void } {
    const paths = this.monitorPaths(id);
    const unregister = addWaiter(paths.exitDir, id);
    const release = () => {
      unregister();
      if (!this.containers.tryLoad(id) && !hasLiveWaiter(paths.exitDir, id)) removeExitFile(paths, id);
    };
    const wait = async () => {
      for (;;) {
        const record = await this.containers.locked(id, (r) => this.settle(r));
        if (!record) return readExitFile(paths, id) ?? 255;
        if (record.state.status === 'exited' || (record.state.status === 'created' && record.state.error)) return record.state.exitCode;
        await sleep(50);
      }
    };
    return { wait, release };
  }

  /**
   * `berth exec`: a process joining a running container, with the container's process settings
   * (capabilities, env, user, cwd) as the base and the flags on top. Its exit code, or 0 detached.
   */
  async exec(ref: string, opts: ExecOptions): Promise<number> {
    const record = await this.inspect(ref);
    if (record.state.status === 'paused') throw new ContainerStoreError(`container ${record.name} is paused, unpause the container before exec`);
    if (record.state.status !== 'running') throw new ContainerStoreError(`container ${record.name} is not running`);
    const spec = this.bundleSpec(record);
    const base = spec.process;
    const env = [...base.env ?? []];
    for (const e of opts.env) {
      const entry = e.includes('=') ? e : `${e}=${process.env[e] ?? ''}`;
      const at = env.findIndex((x) => x.split('=')[0] === entry.split('=')[0]);
      if (at >= 0) env[at] = entry;
      else env.push(entry);
    }
    if (opts.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
    const user = opts.user === undefined ? base.user : this.resolveContainerUser(record, opts.user);
    const proc = { ...base, args: opts.command, env, cwd: opts.workdir ?? base.cwd, user, terminal: opts.tty };
    const devNull = openSync('/dev/null', 'r+');
    try {
      const stdin = opts.interactive && !opts.detach ? 0 : devNull;
      const out = opts.detach ? devNull : 1;
      const err = opts.detach ? devNull : 2;
      const started = await this.runtime.exec(record.id, proc, {
        stdio: [stdin, out, err],
        foregroundConsole: opts.tty && !opts.detach,
        onPlan: opts.explain && ((plan, rootfs) => opts.explain?.(renderPlan(plan, { rootfs }))),
      });
      if (!started) return 0;
      if (opts.detach) {
        started.process.release();
        return 0;
      }
      const console = started.consoleMaster === undefined ? null : proxyConsole(started.consoleMaster);
      const status = await started.process.watch();
      if (console) {
        await console.done;
        console.stop();
      }
      return exitCodeOf(status);
    } finally {
      closeSync(devNull);
    }
  }

  /** The container's config.json as the engine wrote it. */
  bundleSpec(record: ContainerRecord): Spec {
    return JSON.parse(readFileSync(join(this.monitorPaths(record.id).bundle, 'config.json'), 'utf8')) as Spec;
  }

  /** `exec -u`: names looked up in the container's own passwd and group files (its upper dir over its layers). */
  private resolveContainerUser(record: ContainerRecord, user: string): { uid: number; gid: number; additionalGids: number[] } {
    const layers = [...layerDirsOf(this.root, record.layers), containerPaths(this.containers.containerDir(record.id)).upper];
    const resolved = resolveUser(user, (path) => readImageFile(layers, path));
    return { uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids };
  }

  rename(ref: string, newName: string): void {
    const record = this.containers.find(ref);
    this.containers.rename(record, newName);
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

  /**
   * `berth cp`: `use` gets the container's "/" as an fd. A running container's is its process'
   * root (/proc/PID/root, its mounts and all); a stopped one's, a temporary overlay of its upper
   * dir over its layers, with its volumes and binds mounted in it, all unmounted whatever happens.
   */
  async withContainerRoot<T>(ref: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
    const record = this.containers.find(ref);
    const what = `container ${record.name}`;
    let pid = 0;
    try {
      const state = this.runtime.state(record.id);
      if (state.status === 'running' || state.status === 'paused') pid = state.pid ?? 0;
    } catch {
      // no runtime state: not running
    }
    if (pid) return withProcessRoot(pid, what, use);
    const dir = this.containers.containerDir(record.id);
    return withStoppedRoot({ ...this.overlayOptions(record), target: join(dir, `cp-${process.pid}`) }, record.mounts ?? [], what, use);
  }

  /**
   * `berth rm`: a container that is not running (with `force`, killed first): its runtime state
   * and cgroup, its monitor (waited for, so that nothing of it is left), its files and name.
   */
  async remove(ref: string, force: boolean, removeVolumes = false): Promise<ContainerRecord> {
    const { id } = this.containers.find(ref);
    const removed = await this.containers.locked(id, async (r) => {
      const record = (await this.settle(r)) ?? r;
      const live = this.runtimeStatus(id);
      if ((live === 'running' || live === 'paused' || live === 'created') && !force) {
        throw new ContainerStoreError(`cannot remove container ${record.name}: it is ${live}; stop it first or use rm -f`);
      }
      record.state.stoppedByUser = true;
      this.containers.save(record);
      const monitor = this.monitorProcess(id);
      await this.deleteRuntimeLeftovers(record);
      await this.removeFiles(record, removeVolumes);
      return { record, monitor };
    });
    if (!removed) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
    // Its conmon, if any, now runs its exit command (which finds nothing to do) and ends: waited
    // for, so that no process, socket link or exit file of the container outlives `rm`.
    const { monitor } = removed;
    if (monitor) await waitGone(monitor.pid, monitor.startTime, EXIT_FILE_WAIT_MS);
    removeExitFile(this.monitorPaths(id), id);
    return removed.record;
  }

  /**
   * The container's network (its leases, rules, namespace), directory, name and attach link; with
   * `anonymousVolumes` (rm -v, --rm) its anonymous volumes.
   */
  private async removeFiles(record: ContainerRecord, anonymousVolumes: boolean, explain?: (lines: string[]) => void): Promise<void> {
    await this.network.release(record.id, explain);
    this.containers.remove(record);
    removeAttachLink(record.id);
    if (anonymousVolumes) this.volumes.removeAnonymousOf(record.mounts, this.containers.list());
  }
}

/** A foreground container's stdin (an fd), and where its output goes besides its log. */
export interface ForegroundIO {
  stdin?: number;
  stdout: Writable;
  stderr: Writable;
}

/**
 * A foreground container's stdout and stderr as pipes (not sockets: open("/dev/stdout") fails on
 * a socket), copied to ours (or `io`'s) and to its log, as conmon does for a detached one.
 */
function teeOutput(log: LogWriter, io?: ForegroundIO) {
  const [stdoutRead, stdoutFd] = native.pipe();
  const [stderrRead, stderrFd] = native.pipe();
  const copy = (fd: number, stream: 'stdout' | 'stderr', to: Writable) => {
    const from = new Socket({ fd, readable: true, writable: false });
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      log.write(stream, chunk);
    });
    return new Promise<void>((resolve) => from.once('close', () => resolve()));
  };
  const done = Promise.all([copy(stdoutRead, 'stdout', io?.stdout ?? process.stdout), copy(stderrRead, 'stderr', io?.stderr ?? process.stderr)]);
  let open = true;
  return {
    stdoutFd,
    stderrFd,
    /** Once the container holds its own copies: ours closed, so that its exit is our end of file. */
    closeContainerEnds() {
      if (!open) return;
      open = false;
      closeSync(stdoutFd);
      closeSync(stderrFd);
    },
    drained: () => done,
  };
}

/** conmon's link to the bundle for the attach socket's short path (conmon 2.1.6 leaves it behind). */
function removeAttachLink(id: string): void {
  rmSync(join(SOCKET_DIR, id), { force: true });
}
