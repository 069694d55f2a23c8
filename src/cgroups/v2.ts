// cgroup v2: one tree, one directory per cgroup. Controllers reach a cgroup only when every
// ancestor enables them for its children (cgroup.subtree_control), and a cgroup that does so may
// hold no processes itself (the "no internal processes" rule; the root is exempt).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Resources } from '../oci/runtime-spec.js';
import { CgroupDriverBase, fileName, FREEZE_TIMEOUT_MS, POLL_MS, refuseIfOccupied } from './base.js';
import type { CgroupOp, CgroupStats, CgroupWrite } from './driver.js';
import { CgroupError, kernelRefused, refuse } from './errors.js';
import { pathChain, readCgroupFile, readKeyed, readLimit, readNumber, readProcs, readWords, sleep, writeCgroupFile } from './fs.js';
import { blkioToIoWeight, checkResources, FIELD, isSet, rdmaLimit, sharesToWeight, THROTTLES, usesBlockIO, usesCpu, v2Limit } from './resources.js';

/**
 * Controllers berth enables down to its containers, when the tree offers them: the limits it
 * sets plus those its stats read. (freezer and devices are not controllers on v2: every cgroup
 * has cgroup.freeze, and devices are an eBPF program.)
 */
const WANTED = ['cpuset', 'cpu', 'io', 'memory', 'hugetlb', 'pids', 'rdma', 'misc'];

/** cgroup core files the runtime manages itself; a spec's `unified` may not write them. */
const MANAGED_FILES = new Set(['cgroup.procs', 'cgroup.threads', 'cgroup.kill', 'cgroup.subtree_control', 'cgroup.freeze', 'cgroup.type']);

type Mode = 'create' | 'update';

export class V2Driver extends CgroupDriverBase {
  readonly version = 2 as const;
  /** The container's directory. */
  readonly dir: string;

  constructor(
    path: string,
    /** Where cgroup2 is mounted (the root of the tree, or of this cgroup namespace's view of it). */
    readonly mountRoot: string,
  ) {
    super(path);
    this.dir = join(mountRoot, path);
  }

  dirs(): string[] {
    return [this.dir];
  }

  private file(name: string): string {
    return join(this.dir, name);
  }

  planCreate(resources: Resources = {}): CgroupOp[] {
    checkResources(resources);
    checkV2Only(resources);
    const needed = neededControllers(resources);
    const ops: CgroupOp[] = [];
    // From the mount root down to the parent: make what is missing, and enable the controllers
    // the container needs (and those it may use) for the level below.
    let available = readWords(join(this.mountRoot, 'cgroup.controllers'));
    const ancestors = [this.mountRoot, ...pathChain(this.path).slice(0, -1).map((p) => join(this.mountRoot, p))];
    for (const dir of ancestors) {
      const exists = existsSync(dir);
      if (!exists) ops.push({ op: 'mkdir', path: dir });
      else checkNoInternalProcesses(dir);
      const enabled = exists ? readWords(join(dir, 'cgroup.subtree_control')) : [];
      for (const [controller, need] of needed) {
        if (!available.includes(controller)) throw unavailable(controller, need, join(dir, 'cgroup.controllers'));
      }
      const enable = [...new Set([...WANTED, ...needed.keys()])].filter((c) => available.includes(c) && !enabled.includes(c));
      if (enable.length > 0) ops.push({ op: 'write', path: join(dir, 'cgroup.subtree_control'), value: enable.map((c) => `+${c}`).join(' ') });
      // A new directory's cgroup.controllers is what its parent enables.
      available = [...enabled, ...enable];
    }
    if (!existsSync(this.dir)) ops.push({ op: 'mkdir', path: this.dir });
    else refuseIfOccupied(this.path, readProcs(this.dir));
    return [...ops, ...this.resourceWrites(resources, 'create')];
  }

  discarded(resources: Resources): string[] {
    const memory = resources.memory ?? {};
    const fields: string[] = [];
    if (memory.swappiness !== undefined) fields.push(`${FIELD}.memory.swappiness discarded: cgroup v2 has no per-cgroup swappiness (memory.swappiness)`);
    if (memory.disableOOMKiller) fields.push(`${FIELD}.memory.disableOOMKiller discarded: cgroup v2 has no memory.oom_control; the OOM killer stays on`);
    return fields;
  }

  planUpdate(resources: Resources): CgroupOp[] {
    checkResources(resources);
    checkV2Only(resources);
    if (!existsSync(this.dir)) throw new CgroupError(`cgroup: ${this.dir} does not exist`, { path: this.dir });
    const available = readWords(this.file('cgroup.controllers'));
    for (const [controller, need] of neededControllers(resources)) {
      if (!available.includes(controller)) throw unavailable(controller, need, this.file('cgroup.controllers'));
    }
    const limit = resources.memory?.limit;
    if (isSet(limit) && limit > 0) {
      // v1's kernel refuses a limit below the usage (EBUSY); v2's accepts it and OOM-kills to get
      // there. Refuse it here instead, as runc's checkBeforeUpdate does.
      const usage = readNumber(this.file('memory.current'));
      if (usage > limit) {
        throw refuse(`${FIELD}.memory.limit`, `${limit} is below the cgroup's current memory usage (${usage} bytes in ${this.file('memory.current')}); lowering memory.max there would OOM-kill`);
      }
    }
    return this.resourceWrites(resources, 'update');
  }

  /** The writes of `r` into the container's directory, controller by controller; `unified` last, so it has the last word. */
  private resourceWrites(r: Resources, mode: Mode): CgroupOp[] {
    const ops: CgroupOp[] = [];
    const write = (name: string, value: string, ifMissing?: CgroupWrite['ifMissing']) =>
      ops.push({ op: 'write', path: this.file(name), value, ...(ifMissing ? { ifMissing } : {}) });
    const cpu = r.cpu ?? {};
    if (isSet(cpu.shares)) write('cpu.weight', String(sharesToWeight(cpu.shares)));
    if (isSet(cpu.quota) || isSet(cpu.period)) {
      // "quota period"; "max" is no limit. A period alone keeps the quota in force (an update) or none.
      const quota = isSet(cpu.quota) ? (cpu.quota > 0 ? String(cpu.quota) : 'max') : mode === 'update' ? this.currentQuota() : 'max';
      write('cpu.max', isSet(cpu.period) ? `${quota} ${cpu.period}` : quota);
    }
    if (cpu.burst !== undefined) write('cpu.max.burst', String(cpu.burst));
    if (cpu.idle !== undefined) write('cpu.idle', String(cpu.idle));
    if (cpu.cpus) write('cpuset.cpus', cpu.cpus);
    if (cpu.mems) write('cpuset.mems', cpu.mems);
    const memory = r.memory ?? {};
    if (isSet(memory.limit)) write('memory.max', v2Limit(memory.limit));
    const swap = swapMax(memory.limit, memory.swap);
    // Without swap accounting there is no memory.swap.max; "max" or "0" then asks for nothing.
    if (swap !== undefined) write('memory.swap.max', swap, swap === 'max' || swap === '0' ? 'skip' : undefined);
    if (isSet(memory.reservation)) write('memory.low', v2Limit(memory.reservation));
    // memory.swappiness and disableOOMKiller have no v2 file: `discarded` names them.
    if (r.pids) write('pids.max', r.pids.limit > 0 ? String(r.pids.limit) : 'max');
    const blockIO = r.blockIO ?? {};
    if (isSet(blockIO.weight)) {
      // BFQ's weight when the kernel has BFQ (same 10–1000 scale as v1), else the generic io.weight.
      write('io.bfq.weight', String(blockIO.weight), { path: this.file('io.weight'), value: `default ${blkioToIoWeight(blockIO.weight)}` });
    }
    for (const d of blockIO.weightDevice ?? []) {
      if (!isSet(d.weight)) continue;
      write('io.bfq.weight', `${d.major}:${d.minor} ${d.weight}`, { path: this.file('io.weight'), value: `${d.major}:${d.minor} ${blkioToIoWeight(d.weight)}` });
    }
    for (const [list, key] of THROTTLES) {
      // v1's rate 0 (no limit) is v2's max.
      for (const d of blockIO[list] ?? []) write('io.max', `${d.major}:${d.minor} ${key}=${d.rate ? d.rate : 'max'}`);
    }
    for (const h of r.hugepageLimits ?? []) write(`hugetlb.${h.pageSize}.max`, String(h.limit));
    for (const [device, limits] of Object.entries(r.rdma ?? {})) write('rdma.max', rdmaLimit(device, limits));
    if (r.devices !== undefined) ops.push({ op: 'attachDeviceFilter', path: this.dir, rules: r.devices });
    for (const [key, value] of Object.entries(r.unified ?? {})) write(key, value);
    return ops;
  }

  /** The quota now in force (`cpu.max`'s first word), so that a new period alone leaves it be. */
  private currentQuota(): string {
    return (readCgroupFile(this.file('cpu.max')) ?? 'max').split(' ')[0];
  }

  protected hintFor(op: CgroupWrite, code: string | undefined): string | undefined {
    const name = fileName(op.path);
    if (name === 'cgroup.subtree_control' && code === 'EBUSY') {
      return 'the cgroup holds processes, and a cgroup that enables controllers for its children may hold none (the "no internal processes" rule)';
    }
    if (name === 'cgroup.procs' && code === 'EBUSY') {
      return 'the cgroup enables controllers for its children, so it may hold no processes itself (the "no internal processes" rule)';
    }
    if ((name === 'cpuset.cpus' || name === 'cpuset.mems') && (code === 'EINVAL' || code === 'ERANGE')) {
      const effective = readCgroupFile(join(dirname(dirname(op.path)), `${name}.effective`));
      return `not within the ${name === 'cpuset.cpus' ? 'CPUs' : 'memory nodes'} the parent offers (${effective ?? '?'})`;
    }
    if (name === 'memory.swap.max' && code === 'ENOENT') return 'this kernel does not account swap (no memory.swap.max), so a swap limit cannot be set';
    if (code === 'ENOENT' && name.startsWith('cgroup.')) return `${dirname(op.path)} is not a cgroup (it has no ${name})`;
    if (code === 'ENOENT') return `the cgroup has no ${name}: its controller is not enabled in the parent's cgroup.subtree_control, or this kernel lacks it`;
    return undefined;
  }

  async freeze(): Promise<void> {
    await this.setFrozen(true);
  }

  async thaw(): Promise<void> {
    await this.setFrozen(false);
  }

  private async setFrozen(frozen: boolean): Promise<void> {
    const file = this.file('cgroup.freeze');
    try {
      writeCgroupFile(file, frozen ? '1' : '0');
    } catch (err) {
      throw kernelRefused(`write ${frozen ? 1 : 0} to ${file}`, file, err, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'this kernel has no cgroup.freeze (it came in Linux 5.2)' : undefined);
    }
    // The write starts it; cgroup.events says when every task has stopped (or started again).
    const deadline = Date.now() + FREEZE_TIMEOUT_MS;
    while (this.isFrozen() !== frozen) {
      if (Date.now() > deadline) {
        if (frozen) writeCgroupFile(file, '0');
        throw new CgroupError(`cgroup: ${this.dir} did not ${frozen ? 'freeze' : 'thaw'} within ${FREEZE_TIMEOUT_MS / 1000} s`, { path: this.dir });
      }
      await sleep(POLL_MS);
    }
  }

  isFrozen(): boolean {
    return readKeyed(this.file('cgroup.events')).get('frozen') === 1;
  }

  stats(): CgroupStats {
    const cpu = readKeyed(this.file('cpu.stat'));
    const events = readKeyed(this.file('memory.events'));
    return {
      cpu: {
        usageUsec: cpu.get('usage_usec') ?? 0,
        userUsec: cpu.get('user_usec') ?? 0,
        systemUsec: cpu.get('system_usec') ?? 0,
        throttledUsec: cpu.get('throttled_usec'),
        nrThrottled: cpu.get('nr_throttled'),
      },
      memory: {
        usage: readNumber(this.file('memory.current')),
        limit: readLimit(this.file('memory.max')),
        maxUsage: readLimit(this.file('memory.peak')),
        oomKills: events.get('oom_kill') ?? 0,
        oomEvents: events.get('oom') ?? 0,
      },
      pids: { current: readNumber(this.file('pids.current')), limit: readLimit(this.file('pids.max')) },
    };
  }

  oomKilled(): boolean {
    return (readKeyed(this.file('memory.events')).get('oom_kill') ?? 0) > 0;
  }

  protected killFile(): string {
    return this.file('cgroup.kill');
  }

  protected thawForKill(): void {
    // v2 delivers SIGKILL to frozen tasks.
  }
}

/** What v2 cannot do, refused by name. */
function checkV2Only(r: Resources): void {
  if (r.cpu?.realtimeRuntime || r.cpu?.realtimePeriod) {
    throw refuse(`${FIELD}.cpu.${r.cpu.realtimeRuntime ? 'realtimeRuntime' : 'realtimePeriod'}`, 'cgroup v2 has no realtime CPU bandwidth (cpu.rt_*)');
  }
  if (isSet(r.memory?.kernel) || isSet(r.memory?.kernelTCP)) {
    throw refuse(`${FIELD}.memory.${isSet(r.memory?.kernel) ? 'kernel' : 'kernelTCP'}`, 'cgroup v2 has no kernel memory limits (memory.kmem.*): the kernel counts that memory in memory.max');
  }
  if (r.network?.classID || r.network?.priorities?.length) {
    throw refuse(`${FIELD}.network`, 'cgroup v2 has no net_cls or net_prio controller');
  }
  for (const key of Object.keys(r.unified ?? {})) {
    const field = `${FIELD}.unified[${JSON.stringify(key)}]`;
    if (!/^[a-z_]+\.[A-Za-z0-9_.]+$/.test(key)) throw refuse(field, 'must be a cgroup file name like memory.high');
    if (MANAGED_FILES.has(key)) throw refuse(field, `${key} is the runtime's to manage`);
  }
}

/** Why a controller is needed: the field asking for it, and for `unified` the file to write. */
interface Need {
  field: string;
  file?: string;
}

/** Controllers `r` needs in the container's cgroup. */
function neededControllers(r: Resources): Map<string, Need> {
  const needed = new Map<string, Need>();
  const need = (controller: string, field: string, file?: string) => needed.has(controller) || needed.set(controller, { field, file });
  const cpu = r.cpu ?? {};
  if (usesCpu(cpu)) need('cpu', `${FIELD}.cpu`);
  if (cpu.cpus || cpu.mems) need('cpuset', `${FIELD}.cpu.${cpu.cpus ? 'cpus' : 'mems'}`);
  const memory = r.memory ?? {};
  if (isSet(memory.limit) || isSet(memory.swap) || isSet(memory.reservation)) need('memory', `${FIELD}.memory`);
  if (r.pids) need('pids', `${FIELD}.pids`);
  if (usesBlockIO(r.blockIO)) need('io', `${FIELD}.blockIO`);
  if (r.hugepageLimits?.length) need('hugetlb', `${FIELD}.hugepageLimits`);
  if (Object.keys(r.rdma ?? {}).length > 0) need('rdma', `${FIELD}.rdma`);
  for (const key of Object.keys(r.unified ?? {})) {
    const controller = key.slice(0, key.indexOf('.'));
    if (controller !== 'cgroup') need(controller, `${FIELD}.unified[${JSON.stringify(key)}]`, key);
  }
  return needed;
}

/** `linux.resources.unified["memory.high"]: cannot write memory.high: the memory controller is not available (not listed in …/cgroup.controllers)`. */
function unavailable(controller: string, need: Need, controllersFile: string): CgroupError {
  const what = need.file ? `cannot write ${need.file}: the ${controller} controller` : `needs the ${controller} controller, which`;
  return refuse(need.field, `${what} is not available (not listed in ${controllersFile})`);
}

/** An existing non-root ancestor with processes cannot enable controllers for berth's cgroups. */
function checkNoInternalProcesses(dir: string): void {
  // The root cgroup has no cgroup.type, and is exempt from the rule.
  if (!existsSync(join(dir, 'cgroup.type'))) return;
  const procs = readProcs(dir);
  if (procs.length > 0) {
    throw new CgroupError(
      `cgroup: ${dir} holds processes (${procs.slice(0, 5).join(' ')}${procs.length > 5 ? ' ...' : ''}); on cgroup v2 a cgroup with processes cannot pass controllers to child cgroups (the "no internal processes" rule): put the container under another parent (linux.cgroupsPath)`,
      { path: dir },
    );
  }
}

/**
 * OCI's swap (memory plus swap, v1's meaning) as v2's memory.swap.max (swap alone), as runc
 * converts it; undefined when nothing is to be written.
 */
function swapMax(limit: number | undefined, swap: number | undefined): string | undefined {
  // No memory limit and no word on swap: no swap limit either (as on v1, where memsw follows).
  if (limit === -1 && !isSet(swap)) return 'max';
  if (!isSet(swap)) return undefined;
  if (swap === -1) return 'max';
  return String(swap - (limit as number));
}
