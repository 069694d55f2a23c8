// The starter config.json that `berth-runtime spec` writes: runc's `runc spec` (and
// `runc spec --rootless`), with berth's name and one deliberate difference, `terminal: false`.

import type { Linux, Mount, Spec } from '../oci/runtime-spec.js';

/** The runtime-spec version berth writes: the newest it reads (../shared/oci-schemas/runtime-spec-v1.3.0). */
export const OCI_VERSION = '1.3.0';

/** Only what runc's example grants: enough to write audit records, signal and bind low ports. */
const DEFAULT_CAPABILITIES = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
  // Energy counters readable here leak secrets through power side channels (CVE-2020-8694).
  '/sys/devices/virtual/powercap',
];

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

export function defaultSpec(opts: { rootless?: boolean; args?: string[] } = {}): Spec {
  const rootless = opts.rootless ?? false;
  return {
    ociVersion: OCI_VERSION,
    process: {
      // runc defaults to true, and a terminal then needs `--console-socket` from the caller.
      // berth's starter bundle must run as generated (`berth-runtime run ID` from a script or a
      // test), so it uses the caller's stdio; set true for an interactive shell.
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: opts.args ?? ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      // No inheritable set, so no capability survives an execve of a file without file
      // capabilities (CVE-2022-29162); ambient capabilities need inheritable ones, so none either.
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES],
        effective: [...DEFAULT_CAPABILITIES],
        permitted: [...DEFAULT_CAPABILITIES],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'berth',
    mounts: defaultMounts(rootless),
    linux: rootless ? rootlessLinux() : rootfulLinux(),
  };
}

function rootfulLinux(): Linux {
  return {
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
    // Deny every device by default; the runtime then allows the standard nodes it creates.
    resources: { devices: [{ allow: false, access: 'rwm' }] },
    namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
  };
}

/**
 * As runc: the calling user becomes root in a new user namespace, listed last; there is no
 * network namespace (an unprivileged user could create one but has no way to connect it, so the
 * container shares the host's), and no resources (there is no cgroup it may be assumed to own).
 */
function rootlessLinux(): Linux {
  const { uid, gid } = callingUser();
  return {
    uidMappings: [{ containerID: 0, hostID: uid, size: 1 }],
    gidMappings: [{ containerID: 0, hostID: gid, size: 1 }],
    maskedPaths: [...MASKED_PATHS],
    readonlyPaths: [...READONLY_PATHS],
    namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }, { type: 'user' }],
  };
}

function defaultMounts(rootless: boolean): Mount[] {
  // In a user namespace the host's gid 5 (tty) is unmapped, so devpts would refuse gid=5.
  const devptsOptions = ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'];
  if (!rootless) devptsOptions.push('gid=5');
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: devptsOptions },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    rootless
      ? // Without its own network namespace a container may not mount a fresh sysfs; it gets a
        // read-only view of the host's.
        { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
      : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
  ];
}

/** The effective ids, as runc uses: they are what the kernel checks when uid_map is written. */
function callingUser(): { uid: number; gid: number } {
  if (process.geteuid === undefined || process.getegid === undefined) {
    throw new Error('a rootless spec maps the calling user, and this platform has no user ids');
  }
  return { uid: process.geteuid(), gid: process.getegid() };
}
