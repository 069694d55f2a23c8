// `berth run`/`create`'s host options in docker's syntax: --device, --device-cgroup-rule, --sysctl,
// --ulimit, --group-add, --shm-size, --oom-score-adj, parsed into docker's HostConfig fields (as
// docker's CLI does); the engine checks and applies them (engine/host-options.ts).
import { DEFAULT_HOST_OPTIONS, isDevicePermissions, type DeviceMapping, type HostOptions, type Ulimit } from '../engine/host-options.js';
import { list, str, UsageError, type Parsed } from './args.js';
import type { Flag } from './command.js';
import { parseBytes } from './runtime-cgroup-commands.js';

export const HOST_OPTION_FLAGS: Flag[] = [
  { name: 'device', repeatable: true, value: 'HOST[:CONTAINER[:rwm]]', help: 'Add a host device to the container' },
  { name: 'device-cgroup-rule', repeatable: true, value: "'c|b|a MAJOR:MINOR rwm'", help: "Add a rule to the cgroup allowed devices list" },
  { name: 'sysctl', repeatable: true, value: 'KEY=VALUE', help: 'Sysctl options (namespaced ones only)' },
  { name: 'ulimit', repeatable: true, value: 'NAME=SOFT[:HARD]', help: 'Ulimit options (nofile, nproc, core, memlock, stack, ...)' },
  { name: 'group-add', repeatable: true, value: 'GROUP', help: 'Add additional groups to join' },
  { name: 'shm-size', value: 'BYTES', help: 'Size of /dev/shm (default 64m)' },
  { name: 'oom-score-adj', value: 'N', help: "Tune host's OOM preferences (-1000 to 1000)" },
];

/** docker's parseDevice: HOST, HOST:CONTAINER, HOST:PERMS or HOST:CONTAINER:PERMS. */
export function parseDeviceFlag(text: string): DeviceMapping {
  const parts = text.split(':');
  if (parts.length > 3 || parts[0] === '') throw new UsageError(`--device ${text}: bad format for path: use HOST[:CONTAINER[:rwm]]`);
  let container = parts[0];
  let permissions = 'rwm';
  if (parts.length === 3) {
    container = parts[1];
    if (!isDevicePermissions(parts[2])) throw new UsageError(`--device ${text}: bad mode specified: ${parts[2]}`);
    permissions = parts[2];
  } else if (parts.length === 2) {
    if (isDevicePermissions(parts[1])) permissions = parts[1];
    else container = parts[1];
  }
  if (!container.startsWith('/')) throw new UsageError(`--device ${text}: ${container} is not an absolute path`);
  return { PathOnHost: parts[0], PathInContainer: container, CgroupPermissions: permissions };
}

/** go-units' ParseUlimit: NAME=SOFT[:HARD], the hard limit the soft one when not given. */
export function parseUlimitFlag(text: string): Ulimit {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--ulimit ${text}: invalid ulimit argument: use NAME=SOFT[:HARD]`);
  const values = text.slice(eq + 1).split(':');
  if (values.length > 2) throw new UsageError(`--ulimit ${text}: too many limit value arguments, can only have up to two, soft[:hard]`);
  const [soft, hard = soft] = values.map((v) => {
    if (!/^-?\d+$/.test(v)) throw new UsageError(`--ulimit ${text}: not an integer: ${JSON.stringify(v)}`);
    return Number(v);
  });
  return { Name: text.slice(0, eq), Soft: soft, Hard: hard };
}

/** The flags as docker's HostConfig fields; their sense is checked by the engine. */
export function hostOptionsOf(p: Parsed): HostOptions {
  const sysctls: Record<string, string> = {};
  for (const kv of list(p, 'sysctl')) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UsageError(`--sysctl: sysctl '${kv}' is not allowed: use KEY=VALUE`);
    sysctls[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const shm = str(p, 'shm-size');
  const oom = str(p, 'oom-score-adj');
  if (oom !== undefined && !/^-?\d+$/.test(oom)) throw new UsageError(`--oom-score-adj: ${oom}: not an integer`);
  return {
    Devices: list(p, 'device').map(parseDeviceFlag),
    DeviceCgroupRules: list(p, 'device-cgroup-rule'),
    Sysctls: sysctls,
    Ulimits: list(p, 'ulimit').map(parseUlimitFlag),
    GroupAdd: list(p, 'group-add'),
    ShmSize: shm === undefined ? DEFAULT_HOST_OPTIONS.ShmSize : parseBytes('shm-size', shm),
    OomScoreAdj: oom === undefined ? 0 : Number(oom),
  };
}
