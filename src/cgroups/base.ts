// What both drivers do the same way: run a plan (rolling back the directories it made when a
// step fails), place processes, list them, signal them, and tear the cgroup down.
import { mkdirSync, rmdirSync } from 'node:fs';
import { constants as os } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Resources } from '../oci/runtime-spec.js';
import { attachDeviceFilter } from './device-filter.js';
import type { CgroupDriver, CgroupOp, CgroupStats, CgroupWrite } from './driver.js';
import { CgroupError, kernelRefused } from './errors.js';
import { cgroupTree, isErrno, readCgroupFile, readProcs, sleep, writeCgroupFile } from './fs.js';

export const SIGKILL = os.signals.SIGKILL;

/** How long destroy waits for killed processes to leave, and freeze for tasks to stop. */
const EMPTY_TIMEOUT_MS = 10_000;
export const FREEZE_TIMEOUT_MS = 10_000;
export const POLL_MS = 10;

export abstract class CgroupDriverBase implements CgroupDriver {
  abstract readonly version: 1 | 2;

  constructor(readonly path: string) {}

  abstract dirs(): string[];
  abstract planCreate(resources?: Resources): CgroupOp[];
  abstract planUpdate(resources: Resources): CgroupOp[];
  abstract discarded(resources: Resources): string[];
  abstract freeze(): Promise<void>;
  abstract thaw(): Promise<void>;
  abstract isFrozen(): boolean;
  abstract stats(): CgroupStats;
  abstract oomKilled(): boolean;

  /** Where `kill(SIGKILL)` can write "1" to kill everything at once (cgroup.kill, kernel ≥ 5.14). */
  protected abstract killFile(): string | undefined;
  /** v1 only: frozen tasks take no signal until thawed. */
  protected abstract thawForKill(): void;
  /** A hint for a kernel refusal, when the errno says something about this file. */
  protected abstract hintFor(op: CgroupWrite, code: string | undefined): string | undefined;

  planAddProcess(pid: number): CgroupOp[] {
    if (!Number.isInteger(pid) || pid <= 0) throw new CgroupError(`cgroup: ${pid} is not a process id`);
    return this.dirs().map((dir) => ({ op: 'write', path: join(dir, 'cgroup.procs'), value: String(pid) }));
  }

  apply(ops: CgroupOp[]): void {
    const created: string[] = [];
    try {
      for (const op of ops) {
        if (op.op === 'mkdir') {
          try {
            mkdirSync(op.path);
            created.push(op.path);
          } catch (err) {
            // Made meanwhile by another container (a shared parent), or left by an earlier one.
            if (!isErrno(err, 'EEXIST')) throw kernelRefused(`mkdir ${op.path}`, op.path, err);
          }
        } else if (op.op === 'write') {
          this.write(op);
        } else {
          try {
            attachDeviceFilter(op.path, op.rules);
          } catch (err) {
            throw new CgroupError(`cgroup: attach an eBPF device filter to ${op.path}: ${err instanceof Error ? err.message : String(err)}`, {
              path: op.path,
              cause: err,
            });
          }
        }
      }
    } catch (err) {
      // Leave nothing: the directories made here, deepest first. One a racing container has
      // meanwhile used (EBUSY, ENOTEMPTY) is theirs now and stays.
      for (const dir of created.reverse()) {
        try {
          rmdirSync(dir);
        } catch {
          /* shared or busy: not ours to force */
        }
      }
      throw err;
    }
  }

  private write(op: CgroupWrite): void {
    try {
      writeCgroupFile(op.path, op.value);
      return;
    } catch (err) {
      const missing = isErrno(err, 'ENOENT') && op.ifMissing !== undefined;
      if (!missing) throw kernelRefused(`write ${op.value} to ${op.path}`, op.path, err, this.hintFor(op, (err as NodeJS.ErrnoException).code));
    }
    if (op.ifMissing === 'skip' || op.ifMissing === undefined) return;
    this.write({ op: 'write', ...op.ifMissing });
  }

  create(resources?: Resources): void {
    this.apply(this.planCreate(resources));
  }

  update(resources: Resources): void {
    this.apply(this.planUpdate(resources));
  }

  addProcess(pid: number): void {
    this.apply(this.planAddProcess(pid));
  }

  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.dirs()) for (const cg of cgroupTree(dir)) for (const pid of readProcs(cg)) all.add(pid);
    return [...all].sort((a, b) => a - b);
  }

  kill(signal: number = SIGKILL): void {
    const killFile = signal === SIGKILL ? this.killFile() : undefined;
    if (killFile !== undefined) {
      try {
        writeCgroupFile(killFile, '1');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw kernelRefused(`write 1 to ${killFile}`, killFile, err);
      }
    }
    // Also one by one: cgroup.kill covers only its own tree, and v1 has none.
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch (err) {
        if (!isErrno(err, 'ESRCH')) throw kernelRefused(`kill ${pid} (in ${this.path})`, this.path, err);
      }
    }
  }

  async destroy(): Promise<void> {
    const deadline = Date.now() + EMPTY_TIMEOUT_MS;
    // Killed processes are usually gone within a millisecond: wait briefly first, then longer.
    let wait = 1;
    for (let left = this.pids(); left.length > 0; left = this.pids()) {
      if (Date.now() > deadline) {
        throw new CgroupError(`cgroup: ${this.path} still holds processes ${left.join(' ')} ${EMPTY_TIMEOUT_MS / 1000} s after SIGKILL`, { path: this.path });
      }
      this.kill(SIGKILL);
      this.thawForKill();
      await sleep(wait);
      wait = Math.min(wait * 2, POLL_MS);
    }
    for (const dir of this.dirs()) {
      // Cgroups made inside the container's (a nested runtime, systemd) go first.
      for (const cg of cgroupTree(dir)) await removeCgroupDir(cg, deadline);
    }
  }
}

/** rmdir, retried while the kernel still finishes with the last tasks (EBUSY); gone already is fine. */
async function removeCgroupDir(dir: string, deadline: number): Promise<void> {
  for (let wait = 1; ; wait = Math.min(wait * 2, POLL_MS)) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      if (!isErrno(err, 'EBUSY') || Date.now() > deadline) {
        const procs = readCgroupFile(join(dir, 'cgroup.procs'));
        throw kernelRefused(`rmdir ${dir}`, dir, err, procs ? `it still holds processes ${procs.split('\n').join(' ')}` : undefined);
      }
      await sleep(wait);
    }
  }
}

/** create() into a cgroup that other processes use would mix them with the container's. */
export function refuseIfOccupied(path: string, procs: number[]): void {
  if (procs.length > 0) {
    throw new CgroupError(`cgroup: ${path} already exists and holds processes (${procs.slice(0, 5).join(' ')}): is another container using it?`, { path });
  }
}

/** The parent directory's path and the file's name, for hints that read a sibling file. */
export function sibling(file: string, name: string): string {
  return join(dirname(file), name);
}

export const fileName = basename;
