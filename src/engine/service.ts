// The engine as its front ends see it: the one typed set of operations that `berth` (the CLI),
// the Docker Engine API service and `berth build` call. Each front end only parses its input,
// calls these, and renders the answer in its own form (text, docker's JSON, progress streams);
// what a container is, and its security defaults, are decided once, behind this interface.
import type { CgroupDriver } from '../cgroups/driver.js';
import type { ImageRecord, ImageStore } from '../image/index.js';
import type { Spec } from '../oci/runtime-spec.js';
import type { Change } from '../storage/diff.js';
import type { Writable } from 'node:stream';
import type { CommitContainerOptions } from './commit.js';
import type { CopyRoot } from './container-root.js';
import type { ContainerRecord, ContainerStore } from './containers.js';
import type { Explain } from './context.js';
import type { EngineRunOptions } from './create.js';
import type { ExecOptions } from './exec.js';
import type { MonitorPaths } from './monitor.js';
import type { NetworkManager } from './network/index.js';
import type { ContainerPruneFilters } from './remove.js';
import type { ForegroundIO, StartOptions } from './start.js';
import type { StatsSample } from './stats.js';
import type { ContainerUpdate } from './update.js';
import type { VolumeStore } from './volumes.js';

export interface EngineService {
  /** The storage root ($BERTH_ROOT). */
  readonly root: string;
  readonly images: ImageStore;
  /** The container records as stored (unsettled: `inspect` and `list` settle). */
  readonly containers: ContainerStore;
  readonly volumes: VolumeStore;
  readonly network: NetworkManager;

  // containers: lifecycle (lifecycle.ts is the state machine these move through)
  create(opts: EngineRunOptions): Promise<ContainerRecord>;
  start(ref: string, opts?: StartOptions): Promise<ContainerRecord>;
  runForeground(record: ContainerRecord, explain?: Explain, io?: ForegroundIO): Promise<number>;
  stop(ref: string, timeoutSec?: number): Promise<ContainerRecord>;
  restart(ref: string, timeoutSec?: number): Promise<ContainerRecord>;
  kill(ref: string, signal?: string): Promise<void>;
  pause(ref: string): Promise<void>;
  unpause(ref: string): Promise<void>;
  wait(ref: string): Promise<number>;
  watchExit(id: string): { wait: () => Promise<number>; release: () => void };
  remove(ref: string, force: boolean, removeVolumes?: boolean): Promise<ContainerRecord>;
  /** `container prune`: the stopped containers the filters keep removed; their ids and the bytes they had written. */
  pruneContainers(filters?: ContainerPruneFilters): Promise<{ deleted: string[]; reclaimed: number }>;
  /** Bytes the container wrote (docker's SizeRw). */
  writableLayerSize(id: string): number;
  /** The monitor's exit command: the exit's bookkeeping. */
  cleanup(id: string): Promise<void>;
  rename(ref: string, newName: string): Promise<void>;
  /** docker update: CPU, memory and pids limits (live and for later starts), the restart policy. */
  update(ref: string, update: ContainerUpdate): Promise<void>;

  // containers: what they are and hold
  inspect(ref: string): Promise<ContainerRecord>;
  list(): Promise<ContainerRecord[]>;
  bundleSpec(record: ContainerRecord): Spec;
  monitorPaths(id: string): MonitorPaths;
  /** A running container's cgroup: its processes, statistics, signals. */
  cgroup(id: string): CgroupDriver;
  exec(ref: string, opts: ExecOptions): Promise<number>;
  /** docker top: the host's ps (`psArgs`, default -ef), the container's rows kept. */
  top(ref: string, psArgs?: string[]): Promise<{ header: string; rows: string[] }>;
  /** One sample of the container's resource use (docker stats). */
  statsSample(record: ContainerRecord): StatsSample;
  diff(ref: string): Change[];
  commit(ref: string, opts: CommitContainerOptions): Promise<ImageRecord>;
  exportContainer(ref: string, out: Writable): Promise<void>;
  withContainerRoot<T>(ref: string, use: (root: CopyRoot) => Promise<T>): Promise<T>;
}
