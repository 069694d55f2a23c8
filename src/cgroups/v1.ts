// cgroup v1: one hierarchy per controller (or per few, co-mounted like cpu,cpuacct), each with
// its own directory for the container. berth makes the container's directory in every mounted
// hierarchy, named ones (name=systemd) included, and on a hybrid host in the cgroup2 tree too.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Resources } from '../oci/runtime-spec.js';
import { CgroupDriverBase, fileName, FREEZE_TIMEOUT_MS, POLL_MS, refuseIfOccupied, sibling } from './base.js';
import type { CgroupLayout } from './detect.js';
import type { CgroupOp, CgroupStats, CgroupWrite } from './driver.js';
import { CgroupError, kernelRefused, refuse } from './errors.js';
import { isErrno, pathChain, readCgroupFile, readKeyed, readLimit, readNumber, sleep, writeCgroupFile } from './fs.js';
import { checkResources, FIELD, isSet, rdmaLimit, THROTTLES, usesBlockIO, usesCpu, v1DeviceEntries } from './resources.js';

/** cpuacct.stat counts in USER_HZ ticks: 100 a second on every architecture Linux exports it for. */
const USEC_PER_TICK = 1_000_000 / 100;

interface Hierarchy {
  /** Where the hierarchy is mounted. */
  mountpoint: string;
  controllers: string[];
  /** The container's directory in it. */
  dir: string;
}

export class V1Driver extends CgroupDriverBase {
  readonly version = 1 as const;
  readonly hierarchies: Hierarchy[];
  /**
   * The container's directory in the cgroup2 tree of a hybrid host. That tree has no
   * controllers here; the container's processes are placed in it all the same, so that it is
   * theirs in every tree (a cgroup namespace, systemd and cgroup.kill see it).
   */
  readonly unifiedDir: string | undefined;
  private readonly unifiedMount: string | undefined;

  constructor(path: string, layout: CgroupLayout) {
    super(path);
    this.hierarchies = layout.v1.map((h) => ({ mountpoint: h.mountpoint, controllers: h.controllers, dir: join(h.mountpoint, path) }));
    this.unifiedMount = layout.mode === 'hybrid' && layout.v2 !== null ? layout.v2 : undefined;
    this.unifiedDir = this.unifiedMount === undefined ? undefined : join(this.unifiedMount, path);
  }

  dirs(): string[] {
    const dirs = this.hierarchies.map((h) => h.dir);
    return this.unifiedDir === undefined ? dirs : [...dirs, this.unifiedDir];
  }

  /** The hierarchy of `controller`, if it is mounted. */
  private hierarchy(controller: string): Hierarchy | undefined {
    return this.hierarchies.find((h) => h.controllers.includes(controller));
  }

  /** `name` in the container's directory of `controller`'s hierarchy. */
  private file(controller: string, name: string): string {
    const h = this.hierarchy(controller);
    if (h === undefined) throw new CgroupError(`cgroup: no cgroup v1 ${controller} hierarchy is mounted on this host`);
    return join(h.dir, name);
  }

  planCreate(resources: Resources = {}): CgroupOp[] {
    this.check(resources);
    refuseIfOccupied(this.path, this.pids());
    const ops: CgroupOp[] = [];
    const chain = pathChain(this.path);
    const mounts = this.hierarchies.map((h) => ({ mountpoint: h.mountpoint, cpuset: h.controllers.includes('cpuset') }));
    if (this.unifiedMount !== undefined) mounts.push({ mountpoint: this.unifiedMount, cpuset: false });
    for (const { mountpoint, cpuset } of mounts) {
      // A task can join a v1 cpuset only once its cpus and mems are set, and a new cpuset starts
      // with neither: each one berth makes gets its parent's (the leaf, the spec's if it has them).
      const inherited = cpuset ? inheritedCpuset(mountpoint, chain) : undefined;
      for (const [i, p] of chain.entries()) {
        const dir = join(mountpoint, p);
        if (existsSync(dir)) continue;
        ops.push({ op: 'mkdir', path: dir });
        if (inherited === undefined) continue;
        const leaf = i === chain.length - 1;
        ops.push({ op: 'write', path: join(dir, 'cpuset.cpus'), value: (leaf && resources.cpu?.cpus) || inherited.cpus });
        ops.push({ op: 'write', path: join(dir, 'cpuset.mems'), value: (leaf && resources.cpu?.mems) || inherited.mems });
      }
    }
    // The leaf's cpus and mems went with its mkdir; a leaf that was there already gets the spec's now.
    const cpusetMade = ops.some((op) => op.op === 'mkdir' && op.path === this.hierarchy('cpuset')?.dir);
    return [...ops, ...this.resourceWrites(resources, { update: false, cpuset: !cpusetMade })];
  }

  discarded(): string[] {
    return []; // v1 has a file for every memory field
  }

  planUpdate(resources: Resources): CgroupOp[] {
    this.check(resources);
    const missing = this.hierarchies.find((h) => !existsSync(h.dir));
    if (missing) throw new CgroupError(`cgroup: ${missing.dir} does not exist`, { path: missing.dir });
    return this.resourceWrites(resources, { update: true, cpuset: true });
  }

  /** Bad input for either version, then what v1 (or this host's v1) lacks. */
  private check(r: Resources): void {
    checkResources(r);
    if (Object.keys(r.unified ?? {}).length > 0) {
      throw refuse(`${FIELD}.unified`, 'is for cgroup v2 files; this host uses cgroup v1 for its controllers');
    }
    const cpu = r.cpu ?? {};
    const memory = r.memory ?? {};
    const needs: [boolean, string, string][] = [
      [usesCpu(cpu), 'cpu', 'cpu'],
      [Boolean(cpu.cpus || cpu.mems), 'cpuset', cpu.cpus ? 'cpu.cpus' : 'cpu.mems'],
      [isSet(memory.limit) || isSet(memory.swap) || isSet(memory.reservation) || isSet(memory.kernel) || isSet(memory.kernelTCP) || memory.swappiness !== undefined || memory.disableOOMKiller !== undefined, 'memory', 'memory'],
      [r.pids !== undefined, 'pids', 'pids'],
      [usesBlockIO(r.blockIO), 'blkio', 'blockIO'],
      [Boolean(r.hugepageLimits?.length), 'hugetlb', 'hugepageLimits'],
      [r.devices !== undefined, 'devices', 'devices'],
      [Boolean(r.network?.classID), 'net_cls', 'network.classID'],
      [Boolean(r.network?.priorities?.length), 'net_prio', 'network.priorities'],
      [Object.keys(r.rdma ?? {}).length > 0, 'rdma', 'rdma'],
    ];
    for (const [needed, controller, field] of needs) {
      if (needed && this.hierarchy(controller) === undefined) {
        throw refuse(`${FIELD}.${field}`, `needs the ${controller} controller, and no cgroup v1 ${controller} hierarchy is mounted on this host`);
      }
    }
  }

  /**
   * The writes of `r` into the container's directories, in runc's order of controllers.
   * `cpuset`: write the spec's cpus and mems (not done with the mkdir); `update`: of a cgroup in use.
   */
  private resourceWrites(r: Resources, mode: { update: boolean; cpuset: boolean }): CgroupOp[] {
    const ops: CgroupOp[] = [];
    const write = (controller: string, name: string, value: string, ifMissing?: CgroupWrite['ifMissing']) =>
      ops.push({ op: 'write', path: this.file(controller, name), value, ...(ifMissing ? { ifMissing } : {}) });
    const cpu = r.cpu ?? {};
    if (mode.cpuset && cpu.cpus) write('cpuset', 'cpuset.cpus', cpu.cpus);
    if (mode.cpuset && cpu.mems) write('cpuset', 'cpuset.mems', cpu.mems);

    if (r.devices !== undefined) {
      // Deny everything, then each rule in order, so later rules win as in the v2 filter. (A
      // rule list that starts by denying everything, as most do, says the first step itself.)
      const entries = r.devices.flatMap((rule) => v1DeviceEntries(rule).map((entry) => [rule.allow ? 'devices.allow' : 'devices.deny', entry] as const));
      if (entries[0]?.[0] !== 'devices.deny' || entries[0][1] !== 'a') write('devices', 'devices.deny', 'a');
      for (const [file, entry] of entries) write('devices', file, entry);
    }

    const memory = r.memory ?? {};
    ops.push(...this.memoryWrites(memory.limit, memory.swap));
    if (isSet(memory.reservation)) write('memory', 'memory.soft_limit_in_bytes', String(memory.reservation));
    if (memory.swappiness !== undefined) write('memory', 'memory.swappiness', String(memory.swappiness));
    // Kernel memory: a missing file (a kernel built without it) is an error naming it. Recent
    // kernels take memory.kmem.limit_in_bytes and no longer enforce it (it reads back unlimited);
    // the TCP limit they enforce.
    if (isSet(memory.kernel)) write('memory', 'memory.kmem.limit_in_bytes', String(memory.kernel));
    if (isSet(memory.kernelTCP)) write('memory', 'memory.kmem.tcp.limit_in_bytes', String(memory.kernelTCP));
    if (memory.disableOOMKiller || (memory.disableOOMKiller === false && mode.update)) write('memory', 'memory.oom_control', memory.disableOOMKiller ? '1' : '0');

    if (isSet(cpu.shares)) write('cpu', 'cpu.shares', String(cpu.shares));
    // The period first: the kernel checks a quota against the period in force.
    if (isSet(cpu.period)) write('cpu', 'cpu.cfs_period_us', String(cpu.period));
    if (isSet(cpu.quota)) write('cpu', 'cpu.cfs_quota_us', String(cpu.quota));
    if (cpu.burst !== undefined) write('cpu', 'cpu.cfs_burst_us', String(cpu.burst));
    if (isSet(cpu.realtimePeriod)) write('cpu', 'cpu.rt_period_us', String(cpu.realtimePeriod));
    if (cpu.realtimeRuntime !== undefined) write('cpu', 'cpu.rt_runtime_us', String(cpu.realtimeRuntime));
    if (cpu.idle !== undefined) write('cpu', 'cpu.idle', String(cpu.idle));

    if (r.pids) write('pids', 'pids.max', r.pids.limit > 0 ? String(r.pids.limit) : 'max');

    const b = r.blockIO ?? {};
    // BFQ's files when the kernel has BFQ (CFQ, with blkio.weight, left in Linux 5.0).
    if (isSet(b.weight)) write('blkio', 'blkio.bfq.weight', String(b.weight), { path: this.file('blkio', 'blkio.weight'), value: String(b.weight) });
    for (const d of b.weightDevice ?? []) {
      if (!isSet(d.weight)) continue;
      const value = `${d.major}:${d.minor} ${d.weight}`;
      write('blkio', 'blkio.bfq.weight_device', value, { path: this.file('blkio', 'blkio.weight_device'), value });
    }
    for (const [list, , name] of THROTTLES) for (const d of b[list] ?? []) write('blkio', name, `${d.major}:${d.minor} ${d.rate ?? 0}`);

    for (const h of r.hugepageLimits ?? []) write('hugetlb', `hugetlb.${h.pageSize}.limit_in_bytes`, String(h.limit));
    if (r.network?.classID) write('net_cls', 'net_cls.classid', String(r.network.classID));
    for (const p of r.network?.priorities ?? []) write('net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`);
    for (const [device, limits] of Object.entries(r.rdma ?? {})) write('rdma', 'rdma.max', rdmaLimit(device, limits));
    return ops;
  }

  /**
   * memory.limit_in_bytes and memory.memsw.limit_in_bytes (OCI's swap is memory+swap, as v1's
   * memsw), in the order the kernel accepts: it keeps memory ≤ memory+swap at every write, so
   * when the new memory+swap is above the limit in force, it goes first (runc's rule).
   */
  private memoryWrites(limit: number | undefined, swap: number | undefined): CgroupOp[] {
    if (this.hierarchy('memory') === undefined) return [];
    const limitFile = this.file('memory', 'memory.limit_in_bytes');
    const swapFile = this.file('memory', 'memory.memsw.limit_in_bytes');
    // No memory limit and no word on swap: no memory+swap limit either.
    if (limit === -1 && !isSet(swap)) swap = -1;
    const limitOp: CgroupOp[] = isSet(limit) ? [{ op: 'write', path: limitFile, value: String(limit) }] : [];
    // Only where the kernel accounts swap: the hierarchy's root has the memsw files then.
    const accountsSwap = existsSync(join(this.hierarchy('memory')!.mountpoint, 'memory.memsw.limit_in_bytes'));
    const swapOp: CgroupOp[] = isSet(swap) && accountsSwap ? [{ op: 'write', path: swapFile, value: String(swap) }] : [];
    const current = readLimit(limitFile) ?? Infinity;
    return isSet(swap) && (swap === -1 || current < swap) ? [...swapOp, ...limitOp] : [...limitOp, ...swapOp];
  }

  protected hintFor(op: CgroupWrite, code: string | undefined): string | undefined {
    const name = fileName(op.path);
    if ((name === 'memory.limit_in_bytes' || name === 'memory.memsw.limit_in_bytes') && code === 'EBUSY') {
      const usage = readCgroupFile(sibling(op.path, name === 'memory.limit_in_bytes' ? 'memory.usage_in_bytes' : 'memory.memsw.usage_in_bytes'));
      return `the limit is below the cgroup's current memory usage (${usage ?? '?'} bytes), and the kernel could not reclaim enough`;
    }
    if (name === 'memory.limit_in_bytes' && code === 'EINVAL') return 'the memory limit must not exceed memory+swap (memory.memsw.limit_in_bytes)';
    if (name === 'memory.memsw.limit_in_bytes' && code === 'EINVAL') return 'memory+swap must not be below the memory limit (memory.limit_in_bytes)';
    if ((name === 'cpuset.cpus' || name === 'cpuset.mems') && (code === 'EINVAL' || code === 'ERANGE')) {
      return `not within the parent's ${name} (${readCgroupFile(join(dirname(dirname(op.path)), name)) ?? '?'})`;
    }
    if (name === 'cgroup.procs' && code === 'ENOSPC') return "the cpuset cgroup has no CPUs or memory nodes (empty cpuset.cpus or cpuset.mems)";
    if (code === 'ENOENT') return `this kernel has no ${name}`;
    return undefined;
  }

  private freezerState(): string | undefined {
    const h = this.hierarchy('freezer');
    return h && readCgroupFile(join(h.dir, 'freezer.state'));
  }

  async freeze(): Promise<void> {
    await this.setState('FROZEN');
  }

  async thaw(): Promise<void> {
    await this.setState('THAWED');
  }

  private async setState(state: 'FROZEN' | 'THAWED'): Promise<void> {
    const file = this.file('freezer', 'freezer.state');
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    for (let round = 0; ; round++) {
      // FREEZING until every task has stopped; writing again retries the tasks that were in a
      // state the freezer could not catch (runc does the same).
      if (round % 10 === 0) {
        try {
          writeCgroupFile(file, state);
        } catch (err) {
          throw kernelRefused(`write ${state} to ${file}`, file, err);
        }
      }
      if (this.freezerState() === state) return;
      if (Date.now() > deadline) {
        if (state === 'FROZEN') writeCgroupFile(file, 'THAWED');
        throw new CgroupError(`cgroup: ${this.path} did not become ${state} within ${FREEZE_TIMEOUT_MS / 1000} s (${file}: ${this.freezerState()})`, { path: file });
      }
      await sleep(POLL_MS);
    }
  }

  isFrozen(): boolean {
    return this.freezerState() === 'FROZEN';
  }

  stats(): CgroupStats {
    const at = (controller: string, name: string) => {
      const h = this.hierarchy(controller);
      return h ? join(h.dir, name) : '/nonexistent';
    };
    const acct = readKeyed(at('cpuacct', 'cpuacct.stat'));
    const cpu = readKeyed(at('cpu', 'cpu.stat'));
    const throttled = cpu.get('throttled_time');
    const oom = readKeyed(at('memory', 'memory.oom_control'));
    return {
      cpu: {
        usageUsec: Math.floor(readNumber(at('cpuacct', 'cpuacct.usage')) / 1000),
        userUsec: (acct.get('user') ?? 0) * USEC_PER_TICK,
        systemUsec: (acct.get('system') ?? 0) * USEC_PER_TICK,
        throttledUsec: throttled === undefined ? undefined : Math.floor(throttled / 1000),
        nrThrottled: cpu.get('nr_throttled'),
      },
      memory: {
        usage: readNumber(at('memory', 'memory.usage_in_bytes')),
        limit: readLimit(at('memory', 'memory.limit_in_bytes')),
        maxUsage: readLimit(at('memory', 'memory.max_usage_in_bytes')),
        // v1 counts OOM kills (oom_control's oom_kill, Linux ≥ 4.13) but not OOM events: the two are one number here.
        oomKills: oom.get('oom_kill') ?? 0,
        oomEvents: oom.get('oom_kill') ?? 0,
      },
      pids: { current: readNumber(at('pids', 'pids.current')), limit: readLimit(at('pids', 'pids.max')) },
    };
  }

  oomKilled(): boolean {
    const h = this.hierarchy('memory');
    return h !== undefined && (readKeyed(join(h.dir, 'memory.oom_control')).get('oom_kill') ?? 0) > 0;
  }

  /** v1 has no cgroup.kill; a hybrid host's cgroup2 tree (Linux ≥ 5.14) does, and holds the same processes. */
  protected killFile(): string | undefined {
    return this.unifiedDir && join(this.unifiedDir, 'cgroup.kill');
  }

  protected thawForKill(): void {
    // A frozen v1 task does not die of SIGKILL until thawed.
    const state = this.freezerState();
    if (state === undefined || state === 'THAWED') return;
    try {
      writeCgroupFile(this.file('freezer', 'freezer.state'), 'THAWED');
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
}

/** The cpus and mems the nearest ancestor with both set has (the mount root always has them). */
function inheritedCpuset(mountpoint: string, chain: string[]): { cpus: string; mems: string } {
  for (const dir of [...chain.slice(0, -1).map((p) => join(mountpoint, p)).reverse(), mountpoint]) {
    const cpus = readCgroupFile(join(dir, 'cpuset.cpus'));
    const mems = readCgroupFile(join(dir, 'cpuset.mems'));
    if (cpus && mems) return { cpus, mems };
  }
  return { cpus: '', mems: '' };
}
