// linux.resources as a cgroup sees it: what either version refuses, and the conversions between
// the OCI numbers (cgroup v1's units) and v2's files. Checked before anything is created.
import { readdirSync } from 'node:fs';
import type { DeviceRule, Resources } from '../oci/runtime-spec.js';
import { refuse } from './errors.js';
import { isMissing } from '../errors.js';

export const FIELD = 'linux.resources';
const f = (path: string) => `${FIELD}.${path}`;

/** The kernel's CFS bandwidth bounds: periods of 1 ms to 1 s, quotas of at least 1 ms (µs). */
const MIN_PERIOD = 1000;
const MAX_PERIOD = 1_000_000;
const MIN_QUOTA = 1000;
/** cpu.shares bounds (kernel/sched: MIN_SHARES, MAX_SHARES). */
const MIN_SHARES = 2;
const MAX_SHARES = 262144;
/** cpuset list syntax: `0-3,5`. */
const CPU_LIST = /^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$/;
const PAGE_SIZE_NAME = /^(\d+)(KB|MB|GB)$/;

function integer(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw refuse(field, 'must be an integer');
  return value;
}

/** Set means present and not 0: OCI's 0 is "leave as is" for these fields (runc reads it so). */
export const isSet = (value: number | undefined): value is number => value !== undefined && value !== 0;

/** Checks that hold on either cgroup version. Host-dependent checks are the drivers'. */
export function checkResources(r: Resources): void {
  const cpu = r.cpu;
  if (cpu) {
    if (isSet(cpu.shares) && (integer(cpu.shares, f('cpu.shares')) < MIN_SHARES || cpu.shares > MAX_SHARES)) {
      throw refuse(f('cpu.shares'), `must be between ${MIN_SHARES} and ${MAX_SHARES}, got ${cpu.shares}`);
    }
    // A period of 0 is no period asked for, as runc reads it: dockerd's `update` sends 0 for every CPU field not given.
    if (isSet(cpu.period)) {
      if (integer(cpu.period, f('cpu.period')) < 0) throw refuse(f('cpu.period'), `must be positive, got ${cpu.period}`);
      if (cpu.period < MIN_PERIOD || cpu.period > MAX_PERIOD) {
        throw refuse(f('cpu.period'), `must be between ${MIN_PERIOD} and ${MAX_PERIOD} microseconds, got ${cpu.period}`);
      }
    }
    if (isSet(cpu.quota)) {
      integer(cpu.quota, f('cpu.quota'));
      if (cpu.quota < -1 || (cpu.quota > 0 && cpu.quota < MIN_QUOTA)) {
        throw refuse(f('cpu.quota'), `must be -1 (no limit) or at least ${MIN_QUOTA} microseconds, got ${cpu.quota}`);
      }
      if (cpu.quota > 0 && !isSet(cpu.period)) {
        throw refuse(f('cpu.quota'), 'needs cpu.period: a quota is microseconds of CPU per period (e.g. quota 30000, period 100000 for 30% of one CPU)');
      }
    }
    if (cpu.burst !== undefined) {
      if (integer(cpu.burst, f('cpu.burst')) < 0) throw refuse(f('cpu.burst'), 'must not be negative');
      if (isSet(cpu.quota) && cpu.quota > 0 && cpu.burst > cpu.quota) throw refuse(f('cpu.burst'), `must not exceed cpu.quota (${cpu.quota})`);
    }
    if (isSet(cpu.realtimePeriod) && integer(cpu.realtimePeriod, f('cpu.realtimePeriod')) < 0) {
      throw refuse(f('cpu.realtimePeriod'), `must be positive, got ${cpu.realtimePeriod}`);
    }
    if (cpu.realtimeRuntime !== undefined && integer(cpu.realtimeRuntime, f('cpu.realtimeRuntime')) < -1) {
      throw refuse(f('cpu.realtimeRuntime'), `must be -1 (no limit) or not negative, got ${cpu.realtimeRuntime}`);
    }
    if (cpu.idle !== undefined && cpu.idle !== 0 && cpu.idle !== 1) throw refuse(f('cpu.idle'), `must be 0 or 1, got ${cpu.idle}`);
    for (const key of ['cpus', 'mems'] as const) {
      const list = cpu[key];
      if (list !== undefined && list !== '' && !CPU_LIST.test(list)) {
        throw refuse(f(`cpu.${key}`), `must be a list like "0-3,5", got ${JSON.stringify(list)}`);
      }
    }
  }
  const memory = r.memory;
  if (memory) {
    for (const key of ['limit', 'reservation', 'swap', 'kernel', 'kernelTCP'] as const) {
      const value = memory[key];
      if (isSet(value) && integer(value, f(`memory.${key}`)) < -1) {
        throw refuse(f(`memory.${key}`), `must be positive, or -1 for no limit, got ${value}`);
      }
    }
    if (isSet(memory.swap) && memory.swap > 0) {
      if (!isSet(memory.limit) || memory.limit < 0) {
        throw refuse(f('memory.swap'), 'needs memory.limit: OCI swap is the limit of memory plus swap');
      }
      if (memory.swap < memory.limit) {
        throw refuse(f('memory.swap'), `must be at least memory.limit (${memory.limit}): OCI swap is the limit of memory plus swap`);
      }
    }
    if (memory.swappiness !== undefined && (integer(memory.swappiness, f('memory.swappiness')) < 0 || memory.swappiness > 100)) {
      throw refuse(f('memory.swappiness'), `must be between 0 and 100, got ${memory.swappiness}`);
    }
  }
  if (r.pids && integer(r.pids.limit, f('pids.limit')) < -1) {
    throw refuse(f('pids.limit'), `must be positive, or 0 or -1 for no limit, got ${r.pids.limit}`);
  }
  const blockIO = r.blockIO;
  if (blockIO) {
    if (isSet(blockIO.weight) && (blockIO.weight < 10 || blockIO.weight > 1000)) {
      throw refuse(f('blockIO.weight'), `must be between 10 and 1000, got ${blockIO.weight}`);
    }
    (blockIO.weightDevice ?? []).forEach((d, i) => {
      if (isSet(d.weight) && (d.weight < 10 || d.weight > 1000)) {
        throw refuse(f(`blockIO.weightDevice[${i}].weight`), `must be between 10 and 1000, got ${d.weight}`);
      }
    });
  }
  (r.hugepageLimits ?? []).forEach((h, i) => {
    if (!PAGE_SIZE_NAME.test(h.pageSize)) {
      throw refuse(f(`hugepageLimits[${i}].pageSize`), `must be a size like 2MB or 1GB, got ${JSON.stringify(h.pageSize)}`);
    }
    const sizes = hostHugePageSizes();
    if (sizes !== undefined && !sizes.includes(h.pageSize)) {
      throw refuse(f(`hugepageLimits[${i}].pageSize`), `${h.pageSize} is not a huge page size of this host (${sizes.join(', ') || 'none'})`);
    }
  });
  (r.devices ?? []).forEach((rule, i) => checkDeviceRule(rule, f(`devices[${i}]`)));
}

function checkDeviceRule(rule: DeviceRule, field: string): void {
  if (rule.type !== undefined && !['a', 'b', 'c'].includes(rule.type)) {
    throw refuse(`${field}.type`, `must be a (all), b (block) or c (character), got ${JSON.stringify(rule.type)}`);
  }
  if (rule.access !== undefined && !/^[rwm]*$/.test(rule.access)) {
    throw refuse(`${field}.access`, `must be made of r, w and m, got ${JSON.stringify(rule.access)}`);
  }
  for (const key of ['major', 'minor'] as const) {
    const n = rule[key];
    if (n !== undefined && (integer(n, `${field}.${key}`) < -1)) throw refuse(`${field}.${key}`, `must be a number, or -1 for any, got ${n}`);
  }
}

/** Page sizes as cgroup files name them (`2MB`, `1GB`), from /sys/kernel/mm/hugepages; undefined when unknown. */
export function hostHugePageSizes(): string[] | undefined {
  let names: string[];
  try {
    names = readdirSync('/sys/kernel/mm/hugepages');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return undefined; // a kernel without huge pages
  }
  return names.flatMap((name) => {
    const kb = /^hugepages-(\d+)kB$/.exec(name);
    return kb ? [pageSizeName(Number(kb[1]) * 1024)] : [];
  });
}

function pageSizeName(bytes: number): string {
  if (bytes % 2 ** 30 === 0) return `${bytes / 2 ** 30}GB`;
  if (bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20}MB`;
  return `${bytes / 1024}KB`;
}

/** cpu.shares (2–262144) → v2 cpu.weight (1–10000), the conversion runc, crun and systemd share. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** blkio.weight (10–1000) → v2 io.weight (1–10000), as runc converts it. */
export function blkioToIoWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** Whether `r` sets anything of the cpu controller's (bandwidth, weight, idle, realtime). */
export function usesCpu(cpu: Resources['cpu'] = {}): boolean {
  return isSet(cpu.shares) || isSet(cpu.quota) || isSet(cpu.period) || cpu.burst !== undefined || cpu.idle !== undefined || isSet(cpu.realtimePeriod) || cpu.realtimeRuntime !== undefined;
}

export function usesBlockIO(b: Resources['blockIO'] = {}): boolean {
  return isSet(b.weight) || [b.weightDevice, b.throttleReadBpsDevice, b.throttleWriteBpsDevice, b.throttleReadIOPSDevice, b.throttleWriteIOPSDevice].some((list) => list?.length);
}

/** blockIO's throttle lists with the key v2's io.max gives each and the file v1 writes it to. */
export const THROTTLES = [
  ['throttleReadBpsDevice', 'rbps', 'blkio.throttle.read_bps_device'],
  ['throttleWriteBpsDevice', 'wbps', 'blkio.throttle.write_bps_device'],
  ['throttleReadIOPSDevice', 'riops', 'blkio.throttle.read_iops_device'],
  ['throttleWriteIOPSDevice', 'wiops', 'blkio.throttle.write_iops_device'],
] as const;

/** An rdma.max line (the same on v1 and v2): `mlx4_0 hca_handle=2 hca_object=2000`. */
export function rdmaLimit(device: string, limits: { hcaHandles?: number; hcaObjects?: number }): string {
  const fields = [limits.hcaHandles !== undefined ? `hca_handle=${limits.hcaHandles}` : '', limits.hcaObjects !== undefined ? `hca_object=${limits.hcaObjects}` : ''];
  return [device, ...fields.filter(Boolean)].join(' ');
}

/** A byte limit as v2 writes it: -1 is `max`. */
export const v2Limit = (n: number): string => (n === -1 ? 'max' : String(n));

/** The `*` of v1 device rules for -1 or absent. */
const devNum = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));

/**
 * A rule as cgroup v1's devices.allow/deny take it: `c 1:3 rwm`. v1's `a` means every device
 * with every access, so a rule on all types that is narrower (`m` only, one major) becomes its
 * `c` and `b` halves, as runc does; else `a` would grant more than the rule says.
 */
export function v1DeviceEntries(rule: DeviceRule): string[] {
  const access = rule.access || 'rwm';
  const type = rule.type ?? 'a';
  if (type !== 'a') return [`${type} ${devNum(rule.major)}:${devNum(rule.minor)} ${access}`];
  const everything = devNum(rule.major) === '*' && devNum(rule.minor) === '*' && ['r', 'w', 'm'].every((c) => access.includes(c));
  if (everything) return ['a'];
  return ['c', 'b'].map((t) => `${t} ${devNum(rule.major)}:${devNum(rule.minor)} ${access}`);
}

/** A rule as people read it, for comments and messages: `allow c 1:3 rwm`, `deny a *:* rwm`. */
export function describeDeviceRule(rule: DeviceRule): string {
  return `${rule.allow ? 'allow' : 'deny'} ${rule.type ?? 'a'} ${devNum(rule.major)}:${devNum(rule.minor)} ${rule.access || 'rwm'}`;
}
