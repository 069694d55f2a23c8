// One interface, two drivers: cgroup v1 (a hierarchy per controller) and v2 (one unified tree);
// openCgroup (open.ts) picks the one for this host.
// Each change to the cgroup tree is first a plan — plain data, printed by --explain and asserted
// by tests — and then applied.
import type { DeviceRule, Resources } from '../oci/runtime-spec.js';

/**
 * A write of `value` to the cgroup file `path` (absolute). Files are opened without O_CREAT: on
 * cgroupfs the kernel makes them, and a missing file means a missing controller or kernel feature.
 * `ifMissing` says what to do then, for the few files a kernel may or may not have: write another
 * file instead (BFQ's `io.bfq.weight` or the generic `io.weight`), or skip.
 */
export interface CgroupWrite {
  op: 'write';
  path: string;
  value: string;
  ifMissing?: { path: string; value: string } | 'skip';
}

export type CgroupOp =
  | { op: 'mkdir'; path: string }
  | CgroupWrite
  /** cgroup v2 has no devices.allow: an eBPF program attached to the directory decides (last matching rule wins). */
  | { op: 'attachDeviceFilter'; path: string; rules: DeviceRule[] };

export interface CgroupStats {
  cpu: { usageUsec: number; userUsec: number; systemUsec: number; throttledUsec?: number; nrThrottled?: number };
  /** Bytes. `limit` is absent when there is none; `maxUsage` when the kernel does not record it. */
  memory: { usage: number; limit?: number; maxUsage?: number; oomKills: number; oomEvents: number };
  pids: { current: number; limit?: number };
}

export interface CgroupDriver {
  readonly version: 1 | 2;
  /** The container's cgroup, cgroupfs-relative (`/berth/<id>`). */
  readonly path: string;
  /**
   * The absolute directories of this cgroup: one per v1 hierarchy (plus, on a hybrid host, one
   * in the cgroup2 mount beside them), one on v2.
   */
  dirs(): string[];
  /**
   * mkdirs (parents first) and writes, in order, that make the cgroup with `resources`. Bad input
   * is refused here (CgroupError naming the field), before anything exists. `resources.devices`
   * are applied as given (v1: devices.deny "a" then each rule; v2: one device filter): the
   * runtime adds its defaults (`containerDeviceRules` in device-rules.ts).
   */
  planCreate(resources?: Resources): CgroupOp[];
  /** Writes that change the limits of the existing cgroup to `resources` (fields left out are left alone). */
  planUpdate(resources: Resources): CgroupOp[];
  planAddProcess(pid: number): CgroupOp[];
  /**
   * Warnings for fields of `resources` this cgroup version has no file for and that the peers
   * tolerate (runc, crun and docker go on without them): the caller shows them, so nothing is
   * dropped unsaid. Fields that cannot be tolerated are refused by planCreate/planUpdate instead.
   */
  discarded(resources: Resources): string[];
  /**
   * Runs `ops` in order. On a failure, removes the directories this call created (parents that
   * already existed stay) and throws a CgroupError naming the file, the value and the errno:
   * `cgroup: write 30000 100000 to /sys/fs/cgroup/berth/x/cpu.max: EINVAL (invalid argument)`.
   * Values already written by an update are not rolled back.
   */
  apply(ops: CgroupOp[]): void;
  create(resources?: Resources): void;
  update(resources: Resources): void;
  addProcess(pid: number): void;
  /** Resolves once every task is frozen (v1 freezer.state FROZEN; v2 cgroup.events `frozen 1`). */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  isFrozen(): boolean;
  stats(): CgroupStats;
  /** Whether the kernel's OOM killer killed a task of this cgroup. Read it before `destroy`. */
  oomKilled(): boolean;
  /** Every process in the cgroup and its descendants, sorted. */
  pids(): number[];
  /** Sends `signal` (default SIGKILL) to every process; SIGKILL goes through cgroup.kill where there is one. */
  kill(signal?: number): void;
  /**
   * Kills what is left, waits until the cgroup is empty, and removes the container's directory
   * (and any cgroup made inside it) in every hierarchy. Idempotent: missing directories are fine.
   * Parents (`/berth`) stay: other containers share them.
   */
  destroy(): Promise<void>;
}
