// The engine: containers from images, as one service (service.ts) over a records store. Each
// operation is a module of its own (create, start, stop, exec, commit, remove; the state machine
// they move a container through is lifecycle.ts); this class holds the stores they share and is
// their face to the front ends. A container runs either in the foreground of a `berth run`
// process, with the runtime as a library (no daemon, no extra process), or detached under its own
// monitor, conmon (monitor.ts), which outlives berth and calls `berth container cleanup` when the
// container exits. Every berth command that finds a container said to run whose process is gone
// settles its exit first, so a crash of berth or the loss of /run never leaves a record that lies.
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import type { CgroupDriver } from '../cgroups/driver.js';
import { familiarName, ImageStore, type ImageRecord } from '../image/index.js';
import type { Spec } from '../oci/runtime-spec.js';
import { Runtime } from '../runtime/container.js';
import type { Change } from '../storage/diff.js';
import { commitContainer, diffContainer, exportContainer, type CommitContainerOptions } from './commit.js';
import { withContainerRoot, type CopyRoot } from './container-root.js';
import { ContainerStore, type ContainerRecord } from './containers.js';
import { ENGINE_RUNTIME_ROOT, monitorPaths, type EngineContext, type Explain } from './context.js';
import { recordContainerEvent, recordEvent } from './events.js';
import { createContainer, type EngineRunOptions } from './create.js';
import { bundleSpec, execInContainer, type ExecOptions } from './exec.js';
import { pruneExitDir } from './exit-waiters.js';
import { settle } from './lifecycle.js';
import type { MonitorPaths } from './monitor.js';
import { NetworkManager } from './network/index.js';
import { pruneContainers, removeContainer, writableLayerSize, type ContainerPruneFilters } from './remove.js';
import type { EngineService } from './service.js';
import { runForeground, startContainer, type ForegroundIO, type StartOptions } from './start.js';
import { DEFAULT_STOP_TIMEOUT, inspectContainer, killContainer, pauseContainer, restartContainer, stopContainer, waitContainer, watchExit } from './stop.js';
import { containerTop, sampleStats, type StatsSample } from './stats.js';
import { updateContainer, type ContainerUpdate } from './update.js';
import { VolumeStore } from './volumes.js';

export { ENGINE_RUNTIME_ROOT } from './context.js';
export { DEFAULT_STOP_TIMEOUT } from './stop.js';
export type { EngineRunOptions } from './create.js';
export type { ExecOptions } from './exec.js';
export type { ForegroundIO } from './start.js';
export type { EngineService } from './service.js';

/** A reference in docker's short form; an id (or anything else) as it is. */
function familiar(text: string): string {
  if (text.startsWith('sha256:')) return text;
  try {
    return familiarName(text);
  } catch {
    return text;
  }
}

export class Engine implements EngineService, EngineContext {
  readonly images: ImageStore;
  readonly containers: ContainerStore;
  readonly runtime: Runtime;
  readonly volumes: VolumeStore;
  readonly network: NetworkManager;

  constructor(readonly root: string) {
    this.images = new ImageStore(root);
    // docker names images in its events as it prints them: busybox:latest, not docker.io/library/busybox:latest.
    this.images.onEvent = (action, id, attributes) => recordEvent(root, 'image', action, familiar(id), { ...attributes, ...(attributes.name ? { name: familiar(attributes.name) } : {}) });
    this.containers = new ContainerStore(root);
    this.runtime = new Runtime(ENGINE_RUNTIME_ROOT);
    this.volumes = new VolumeStore(root);
    this.network = new NetworkManager(root, {
      containerExists: (id) => existsSync(this.containers.containerDir(id)),
      resolveContainer: (ref) => this.containers.find(ref).id,
    });
  }

  create(opts: EngineRunOptions): Promise<ContainerRecord> {
    return createContainer(this, opts);
  }

  start(ref: string, opts: StartOptions = {}): Promise<ContainerRecord> {
    return startContainer(this, ref, opts);
  }

  runForeground(record: ContainerRecord, explain?: Explain, io?: ForegroundIO): Promise<number> {
    return runForeground(this, record, explain, io);
  }

  stop(ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
    return stopContainer(this, ref, timeoutSec);
  }

  restart(ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
    return restartContainer(this, ref, timeoutSec);
  }

  kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    return killContainer(this, ref, signal);
  }

  pause(ref: string): Promise<void> {
    return pauseContainer(this, ref, true);
  }

  unpause(ref: string): Promise<void> {
    return pauseContainer(this, ref, false);
  }

  wait(ref: string): Promise<number> {
    return waitContainer(this, ref);
  }

  watchExit(id: string): { wait: () => Promise<number>; release: () => void } {
    return watchExit(this, id);
  }

  remove(ref: string, force: boolean, removeVolumes = false): Promise<ContainerRecord> {
    return removeContainer(this, ref, force, removeVolumes);
  }

  pruneContainers(filters: ContainerPruneFilters = {}): Promise<{ deleted: string[]; reclaimed: number }> {
    return pruneContainers(this, filters);
  }

  writableLayerSize(id: string): number {
    return writableLayerSize(this, id);
  }

  async cleanup(id: string): Promise<void> {
    await this.containers.locked(id, (record) => settle(this, record));
    pruneExitDir(monitorPaths(this, id).exitDir, new Set(this.containers.ids()));
  }

  update(ref: string, update: ContainerUpdate): Promise<void> {
    return updateContainer(this, ref, update);
  }

  async rename(ref: string, newName: string): Promise<void> {
    const record = this.containers.find(ref);
    const oldName = record.name;
    this.containers.rename(record, newName);
    await this.network.renamed(record.id, newName);
    recordContainerEvent(this.root, { ...record, name: newName }, 'rename', { oldName: `/${oldName}` });
  }

  inspect(ref: string): Promise<ContainerRecord> {
    return inspectContainer(this, ref);
  }

  /** Every container, each settled. */
  async list(): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for (const record of this.containers.list()) {
      const unsettled = record.state.status === 'running' || record.state.status === 'paused' || (record.state.status === 'created' && record.monitored);
      const current = unsettled ? await this.containers.locked(record.id, (r) => settle(this, r)) : record;
      if (current) out.push(current);
    }
    return out;
  }

  bundleSpec(record: ContainerRecord): Spec {
    return bundleSpec(this, record);
  }

  monitorPaths(id: string): MonitorPaths {
    return monitorPaths(this, id);
  }

  cgroup(id: string): CgroupDriver {
    return this.runtime.cgroup(id);
  }

  exec(ref: string, opts: ExecOptions): Promise<number> {
    return execInContainer(this, ref, opts);
  }

  top(ref: string, psArgs: string[] = []): Promise<{ header: string; rows: string[] }> {
    return containerTop(this, ref, psArgs);
  }

  statsSample(record: ContainerRecord): StatsSample {
    return sampleStats(this, record);
  }

  diff(ref: string): Change[] {
    return diffContainer(this, ref);
  }

  commit(ref: string, opts: CommitContainerOptions): Promise<ImageRecord> {
    return commitContainer(this, ref, opts);
  }

  exportContainer(ref: string, out: Writable): Promise<void> {
    return exportContainer(this, ref, out);
  }

  withContainerRoot<T>(ref: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
    return withContainerRoot(this, ref, use);
  }
}
