// The OCI runtime-spec (v1.0 to v1.3) as a Linux runtime reads it: the types of config.json and
// of the state a runtime reports. Plain types and the spec's lists of names, nothing else: the
// checks are runtime/spec.ts's, and every layer above may name these types.
//
// The types name only what berth reads; unknown keys may be on the objects (a newer spec or an
// engine's extension may add fields).

export interface Spec {
  ociVersion: string;
  root: Root;
  mounts?: Mount[];
  process: Process;
  hostname?: string;
  domainname?: string;
  annotations?: Record<string, string>;
  hooks?: Hooks;
  linux?: Linux;
}

export interface Root {
  /** The rootfs, absolute or relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface IDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user?: User;
  args: string[];
  commandLine?: string;
  /** `NAME=value` entries. */
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
  scheduler?: Scheduler;
  ioPriority?: IOPriority;
  execCPUAffinity?: { initial?: string; final?: string };
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
  username?: string;
}

export const CAPABILITY_SETS = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'] as const;
export type CapabilitySet = (typeof CAPABILITY_SETS)[number];
export type Capabilities = Partial<Record<CapabilitySet, string[]>>;

export interface Rlimit {
  /** An `RLIMIT_*` name known to `RLIMITS`. */
  type: string;
  /** Values ≥ 2^64-1 mean unlimited; see `rlimitValue`. */
  soft: number;
  hard: number;
}

export interface Scheduler {
  policy: string;
  nice?: number;
  priority?: number;
  flags?: string[];
  runtime?: number;
  deadline?: number;
  period?: number;
}

export interface IOPriority {
  class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
  priority?: number;
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

export const HOOK_KINDS = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
] as const;
export type HookKind = (typeof HOOK_KINDS)[number];
export type Hooks = Partial<Record<HookKind, Hook[]>>;

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IDMapping[];
  gidMappings?: IDMapping[];
  timeOffsets?: Partial<Record<'boottime' | 'monotonic', { secs?: number; nanosecs?: number }>>;
  devices?: Device[];
  cgroupsPath?: string;
  resources?: Resources;
  rootfsPropagation?: RootfsPropagation;
  seccomp?: Seccomp;
  sysctl?: Record<string, string>;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  intelRdt?: IntelRdt;
  personality?: { domain?: 'LINUX' | 'LINUX32'; flags?: string[] };
}

export const NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
export type NamespaceType = (typeof NAMESPACE_TYPES)[number];

export interface Namespace {
  type: NamespaceType;
  /** Join this namespace (e.g. `/proc/1234/ns/net`) instead of creating one. */
  path?: string;
}

export interface Device {
  /** c: character, b: block, u: unbuffered character, p: FIFO. */
  type: 'c' | 'b' | 'u' | 'p';
  path: string;
  /** Required except for FIFOs. */
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** runc's set: the spec's four plus their recursive `r` forms, which engines write. */
export const ROOTFS_PROPAGATIONS = [
  'private',
  'rprivate',
  'shared',
  'rshared',
  'slave',
  'rslave',
  'unbindable',
  'runbindable',
] as const;
export type RootfsPropagation = (typeof ROOTFS_PROPAGATIONS)[number];

/**
 * cgroup resources. Checked here for shape (each field's JSON type); what values a cgroup
 * version accepts is for the cgroups driver to say as it applies them.
 */
export interface Resources {
  devices?: DeviceRule[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    kernelTCP?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
    checkBeforeUpdate?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    burst?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
    idle?: number;
  };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice?: BlockIODevice[];
    throttleReadBpsDevice?: BlockIODevice[];
    throttleWriteBpsDevice?: BlockIODevice[];
    throttleReadIOPSDevice?: BlockIODevice[];
    throttleWriteIOPSDevice?: BlockIODevice[];
  };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  rdma?: Record<string, { hcaHandles?: number; hcaObjects?: number }>;
  /** cgroup v2 files by name, e.g. `{"memory.high": "1G"}`. */
  unified?: Record<string, string>;
}

export interface DeviceRule {
  allow: boolean;
  /** a (all), c or b. */
  type?: string;
  /** -1 or absent: any. */
  major?: number;
  minor?: number;
  /** Some of r, w, m. */
  access?: string;
}

export interface BlockIODevice {
  major: number;
  minor: number;
  weight?: number;
  leafWeight?: number;
  rate?: number;
}

/** Checked for shape only; action, architecture and operator names are the seccomp compiler's to judge. */
export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: SeccompRule[];
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[];
}

export interface IntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  schemata?: string[];
  enableMonitoring?: boolean;
}

export type OciStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** The state the OCI runtime-spec defines (`berth-runtime state` prints it; hooks read it). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: OciStatus;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
