// docker's host options of a container: --device, --device-cgroup-rule, --sysctl, --ulimit,
// --group-add, --shm-size, --oom-score-adj. The front ends parse their syntax into docker's
// HostConfig fields (this shape); here they are checked as dockerd checks them and turned into
// the container's config.json: linux.devices and their cgroup rules, linux.sysctl,
// process.rlimits, additionalGids, the size of /dev/shm and process.oomScoreAdj.
import { lstatSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { join, relative } from 'node:path';
import type { Device, DeviceRule, Spec } from '../oci/runtime-spec.js';
import { hasNamespace } from '../runtime/namespaces.js';
import { RLIM_INFINITY } from '../runtime/rlimits.js';
import { sysctlNamespace } from '../runtime/sysctl.js';
import { EngineUsageError } from './container-spec.js';
import { groupAddIds } from './users.js';
import { isMissing } from '../errors.js';

/** --device: docker's DeviceMapping. */
export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  /** Some of r, w, m. */
  CgroupPermissions: string;
}

/** --ulimit: docker's Ulimit; -1 is unlimited. */
export interface Ulimit {
  Name: string;
  Soft: number;
  Hard: number;
}

/** The fields of docker's HostConfig these flags fill, as `inspect` shows them. */
export interface HostOptions {
  Devices: DeviceMapping[];
  DeviceCgroupRules: string[];
  Sysctls: Record<string, string>;
  Ulimits: Ulimit[];
  GroupAdd: string[];
  /** Bytes of the /dev/shm tmpfs; 0 is docker's default, 64 MiB. */
  ShmSize: number;
  OomScoreAdj: number;
}

/** docker's default /dev/shm: 64 MiB. */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

export const DEFAULT_HOST_OPTIONS: Readonly<HostOptions> = Object.freeze({
  Devices: [],
  DeviceCgroupRules: [],
  Sysctls: {},
  Ulimits: [],
  GroupAdd: [],
  ShmSize: DEFAULT_SHM_SIZE,
  OomScoreAdj: 0,
});

/** go-units' ulimit names and the runtime-spec's RLIMIT_* each stands for. */
export const ULIMIT_NAMES: Readonly<Record<string, string>> = Object.freeze({
  core: 'RLIMIT_CORE',
  cpu: 'RLIMIT_CPU',
  data: 'RLIMIT_DATA',
  fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK',
  msgqueue: 'RLIMIT_MSGQUEUE',
  nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC',
  rss: 'RLIMIT_RSS',
  rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING',
  stack: 'RLIMIT_STACK',
});

/** docker's whitelist: the IPC namespace's own sysctls by name, and these prefixes. */
const SYSCTL_NAMES = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];
const SYSCTL_PREFIXES = ['net.', 'fs.mqueue.'];

/** dockerd's pattern of a device cgroup rule. */
const DEVICE_CGROUP_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** r, w and m, each at most once: a device's cgroup permissions as docker accepts them. */
export function isDevicePermissions(text: string): boolean {
  return text.length > 0 && text.length <= 3 && [...text].every((c, i) => 'rwm'.includes(c) && text.indexOf(c) === i);
}

/** `c 1:3 rwm` as a runtime-spec device rule (allowing), or an error naming it. */
export function parseDeviceCgroupRule(text: string): DeviceRule {
  const m = DEVICE_CGROUP_RULE.exec(text);
  if (!m) throw new EngineUsageError(`--device-cgroup-rule: invalid device cgroup format '${text}': use TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm'`);
  const num = (s: string) => (s === '*' ? -1 : Number(s));
  return { allow: true, type: m[1], major: num(m[2]), minor: num(m[3]), access: m[4] };
}

/** A device node's type and numbers: runc's DeviceFromPath (no symlink followed), or null if not a device. */
function deviceOf(st: BigIntStats, pathInContainer: string): Device | null {
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : null;
  if (!type) return null;
  // glibc's major()/minor() of a 64-bit dev_t.
  const rdev = st.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { type, path: pathInContainer, major, minor, fileMode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid) };
}

/** The cgroup rule that lets a device be used as `permissions` say (a FIFO needs none). */
function ruleFor(device: Device, permissions: string): DeviceRule[] {
  return device.type === 'p' ? [] : [{ allow: true, type: device.type, major: device.major, minor: device.minor, access: permissions }];
}

/** Every device node under `dir` (no symlink followed), with its path under `inContainer`. */
function devicesUnder(dir: string, inContainer: string, skip: (name: string) => boolean = () => false): Device[] {
  const found: Device[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name);
      if (d === dir && skip(name)) continue;
      let st: BigIntStats;
      try {
        st = lstatSync(path, { bigint: true });
      } catch (err) {
        if (isMissing(err)) continue; // gone while walked
        throw err;
      }
      if (st.isDirectory()) walk(path);
      else {
        const device = deviceOf(st, join(inContainer, relative(dir, path)));
        if (device) found.push(device);
      }
    }
  };
  walk(dir);
  return found;
}

/**
 * dockerd's devicesFromPath: the node at `PathOnHost` (a symlink to one is followed), or every
 * node in a directory of them, under `PathInContainer`; each with the host node's type, numbers,
 * mode and owner, and a cgroup rule allowing it with `CgroupPermissions`.
 */
export function devicesFromPath(mapping: DeviceMapping): { devices: Device[]; rules: DeviceRule[] } {
  const gathering = `error gathering device information while adding custom device "${mapping.PathOnHost}"`;
  let st: BigIntStats;
  try {
    st = statSync(mapping.PathOnHost, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new EngineUsageError(`--device: ${gathering}: no such file or directory`);
    throw new EngineUsageError(`--device: ${gathering}: ${(err as Error).message}`);
  }
  const one = deviceOf(st, mapping.PathInContainer);
  const devices = one ? [one] : st.isDirectory() ? devicesUnder(mapping.PathOnHost, mapping.PathInContainer) : [];
  if (devices.length === 0) throw new EngineUsageError(`--device: ${gathering}: not a device node`);
  return { devices, rules: devices.flatMap((d) => ruleFor(d, mapping.CgroupPermissions)) };
}

/** /dev's directories and files that are no device of the host's to hand on (runc's HostDevices). */
const NOT_HOST_DEVICES = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev', 'console']);

/** --privileged's devices: every node under the host's /dev, at the same path, as runc's HostDevices finds them. */
export function hostDevices(): Device[] {
  return devicesUnder('/dev', '/dev', (name) => NOT_HOST_DEVICES.has(name));
}

/** Checks the options as dockerd does, before anything is made; each error names the flag and value. */
export function checkHostOptions(o: HostOptions): void {
  for (const d of o.Devices) {
    if (!d.PathInContainer.startsWith('/')) throw new EngineUsageError(`--device ${d.PathOnHost}: ${d.PathInContainer} is not an absolute path`);
    if (!isDevicePermissions(d.CgroupPermissions)) throw new EngineUsageError(`--device ${d.PathOnHost}: bad mode specified: ${d.CgroupPermissions}`);
  }
  for (const rule of o.DeviceCgroupRules) parseDeviceCgroupRule(rule);
  for (const name of Object.keys(o.Sysctls)) {
    if (!SYSCTL_NAMES.includes(name) && !SYSCTL_PREFIXES.some((p) => name.startsWith(p))) {
      throw new EngineUsageError(`--sysctl: sysctl '${name}' is not allowed: only namespaced ones can be set (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)`);
    }
    if (name.includes('/') || name.includes('..') || sysctlNamespace(name) === null) throw new EngineUsageError(`--sysctl: sysctl '${name}' is not a sysctl name`);
  }
  for (const u of o.Ulimits) {
    if (!(u.Name in ULIMIT_NAMES)) throw new EngineUsageError(`--ulimit: invalid ulimit type: ${u.Name} (one of ${Object.keys(ULIMIT_NAMES).join(', ')})`);
    for (const v of [u.Soft, u.Hard]) if (!Number.isSafeInteger(v) || v < -1) throw new EngineUsageError(`--ulimit ${u.Name}: invalid limit ${v}`);
    if (u.Hard !== -1 && (u.Soft === -1 || u.Soft > u.Hard)) throw new EngineUsageError(`--ulimit ${u.Name}: ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
  if (!Number.isSafeInteger(o.ShmSize) || o.ShmSize < 0) throw new EngineUsageError(`--shm-size: ${o.ShmSize}: SHM size can not be less than 0`);
  if (!Number.isInteger(o.OomScoreAdj) || o.OomScoreAdj < -1000 || o.OomScoreAdj > 1000) {
    throw new EngineUsageError(`--oom-score-adj: invalid value ${o.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  }
}

/** A limit as config.json holds it: -1 is unlimited. */
const rlimitNumber = (n: number): number => (n === -1 ? Number(RLIM_INFINITY) : n);

/**
 * Writes the options into the container's config.json (after its network namespace is chosen:
 * net.* sysctls need one of the container's own). `readImageFile` reads the image's /etc/group.
 */
export function applyHostOptions(spec: Spec, o: HostOptions, readImageFile: (path: string) => string | null): void {
  checkHostOptions(o);
  if (!hasNamespace(spec, 'mount')) {
    if (o.Devices.length) throw new EngineUsageError('--device needs a mount namespace: it cannot go with --isolation chroot');
    if (o.ShmSize !== 0 && o.ShmSize !== DEFAULT_SHM_SIZE) throw new EngineUsageError('--shm-size needs a mount namespace: it cannot go with --isolation chroot');
  }
  const linux = (spec.linux ??= {});
  const resources = (linux.resources ??= {});
  for (const mapping of o.Devices) {
    const { devices, rules } = devicesFromPath(mapping);
    linux.devices = [...(linux.devices ?? []), ...devices];
    resources.devices = [...(resources.devices ?? []), ...rules];
  }
  if (o.DeviceCgroupRules.length) resources.devices = [...(resources.devices ?? []), ...o.DeviceCgroupRules.map(parseDeviceCgroupRule)];
  for (const [name, value] of Object.entries(o.Sysctls)) {
    const ns = sysctlNamespace(name);
    if (ns && !hasNamespace(spec, ns)) {
      throw new EngineUsageError(`--sysctl ${name}: not allowed in the host's ${ns} namespace: the container shares it (--network host)`);
    }
    linux.sysctl = { ...(linux.sysctl ?? {}), [name]: value };
  }
  if (o.Ulimits.length) {
    const byType = new Map((spec.process.rlimits ?? []).map((r) => [r.type, r]));
    for (const u of o.Ulimits) byType.set(ULIMIT_NAMES[u.Name], { type: ULIMIT_NAMES[u.Name], soft: rlimitNumber(u.Soft), hard: rlimitNumber(u.Hard) });
    spec.process.rlimits = [...byType.values()];
  }
  if (o.GroupAdd.length) {
    const user = (spec.process.user ??= { uid: 0, gid: 0 });
    user.additionalGids = [...new Set([...(user.additionalGids ?? []), ...groupAddIds(o.GroupAdd, readImageFile)])];
  }
  const shm = spec.mounts?.find((m) => m.destination === '/dev/shm' && m.type === 'tmpfs');
  if (shm) shm.options = [...(shm.options ?? []).filter((opt) => !opt.startsWith('size=')), `size=${o.ShmSize || DEFAULT_SHM_SIZE}`];
  // Always, as docker: the container's score is its own, not inherited from whoever starts it.
  spec.process.oomScoreAdj = o.OomScoreAdj;
}
