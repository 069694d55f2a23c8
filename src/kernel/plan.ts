// The plan: what a cloned child does, step by step, before it becomes the container's process.
//
// Everything here is decided in TypeScript. The C executor (native/child.c) runs the steps in
// order and knows nothing of OCI. A plan is plain data: `--explain` renders it, tests assert on it
// without running it, and `encodePlan` turns it into the one buffer the executor reads.

/** Namespace kinds, by their `clone(2)` flag. */
export const NS_FLAGS = {
  mount: 0x00020000, // CLONE_NEWNS
  cgroup: 0x02000000, // CLONE_NEWCGROUP
  uts: 0x04000000, // CLONE_NEWUTS
  ipc: 0x08000000, // CLONE_NEWIPC
  user: 0x10000000, // CLONE_NEWUSER
  pid: 0x20000000, // CLONE_NEWPID
  network: 0x40000000, // CLONE_NEWNET
  time: 0x00000080, // CLONE_NEWTIME
} as const;
export type NamespaceKind = keyof typeof NS_FLAGS;

/** mount(2) flags used by plans. */
export const MS = {
  RDONLY: 0x1,
  NOSUID: 0x2,
  NODEV: 0x4,
  NOEXEC: 0x8,
  SYNCHRONOUS: 0x10,
  REMOUNT: 0x20,
  MANDLOCK: 0x40,
  DIRSYNC: 0x80,
  NOSYMFOLLOW: 0x100,
  NOATIME: 0x400,
  NODIRATIME: 0x800,
  BIND: 0x1000,
  MOVE: 0x2000,
  REC: 0x4000,
  SILENT: 0x8000,
  UNBINDABLE: 0x20000,
  PRIVATE: 0x40000,
  SLAVE: 0x80000,
  SHARED: 0x100000,
  RELATIME: 0x200000,
  STRICTATIME: 0x1000000,
  LAZYTIME: 0x2000000,
} as const;

/** seccomp(2)'s SECCOMP_SET_MODE_FILTER flags (<linux/seccomp.h>), for the `seccomp` step. */
export const SECCOMP_FILTER_FLAG = {
  TSYNC: 1,
  LOG: 2,
  SPEC_ALLOW: 4,
  NEW_LISTENER: 8,
  TSYNC_ESRCH: 16,
  WAIT_KILLABLE_RECV: 32,
} as const;

/** How a mount target (or other path) is found: on the host as given, or inside the container's root. */
export interface InRootPath {
  /** Path resolved inside the root opened by `openRoot`: symlinks and `..` can never leave it. */
  inRoot: string;
}
export interface HostPath {
  /** Absolute path in the child's current view of the filesystem. */
  path: string;
}
export type PathRef = InRootPath | HostPath;

/** What to create at a mount target that does not exist yet. */
export type CreateKind = 'none' | 'dir' | 'file';

export type Step =
  /** Join an existing namespace (`setns`), by the path of its nsfs file. */
  | { op: 'setns'; path: string; ns: NamespaceKind }
  /** Create namespaces in the child itself (those a clone could not: a cgroup namespace rooted at the cgroup joined after the clone). */
  | { op: 'unshare'; flags: number }
  /** Bring up the loopback interface of a new network namespace (it starts down). */
  | { op: 'loopbackUp' }
  /** After joining a PID namespace: clone once more so the process is inside it (setns only moves children). */
  | { op: 'forkIntoPidns' }
  /** Stop until the parent says go on: it writes id maps, places the pid in a cgroup, runs hooks. */
  | { op: 'sync'; tag: SyncTag }
  /** Open the directory that becomes the root: later `inRoot` paths are resolved under it. */
  | { op: 'openRoot'; path: string }
  /**
   * mount(2). The target is created when missing (`create`); `source` may also be an in-root path
   * (bind of a path onto itself). With `keepFlags`, the flags the mount already has (nosuid, nodev,
   * noexec...) are kept on a remount, which a user namespace requires.
   */
  | {
      op: 'mount';
      source: PathRef | null;
      target: PathRef;
      fstype: string | null;
      flags: number;
      data: string | null;
      create: CreateKind;
      keepFlags?: boolean;
      /** A missing target is skipped instead of failing (readonly paths). */
      optional?: boolean;
      /**
       * The target is reached through no symlink, or the step fails: procfs and sysfs, and the
       * read-only and masked paths on them, whose protection a symlink could take elsewhere.
       */
      noSymlinks?: boolean;
    }
  /**
   * Hide a path: a directory gets a read-only empty tmpfs, anything else the container's /dev/null
   * (checked to be the null device) bound over it. Missing is fine; reached through a symlink fails.
   */
  | { op: 'mask'; path: InRootPath }
  /** mknod(2) inside the root, then chown. An existing node is left as it is. */
  | { op: 'mknod'; path: InRootPath; mode: number; major: number; minor: number; uid: number; gid: number }
  /** symlink(2) inside the root; an existing link is left as it is. */
  | { op: 'symlink'; target: string; path: InRootPath }
  /** Make the opened root `/`: chdir to it, `pivot_root . .`, detach the old root, chdir `/`. */
  | { op: 'pivotRoot' }
  /** For roots that cannot be pivoted: chdir to it, `mount --move . /`, `chroot .`. */
  | { op: 'moveRoot' }
  /** No mount namespace: only `chroot` (escapable; kept for teaching and the spec's rules). */
  | { op: 'chroot' }
  /**
   * Write a string to a procfs file, `path` relative to procfs (`sys/net/ipv4/ip_forward`,
   * `self/oom_score_adj`): through a procfs instance of the child's own, never through the
   * container's /proc, which an image or a racing process may have made lead anywhere.
   */
  | { op: 'writeProc'; path: string; content: string }
  | { op: 'sethostname'; name: string }
  | { op: 'setdomainname'; name: string }
  | { op: 'rlimit'; resource: number; soft: bigint; hard: bigint }
  /** New session; the process leads it (and can take a controlling terminal). */
  | { op: 'setsid' }
  /**
   * Open a pty inside the container, send its master over the console socket, make the slave stdio
   * and controlling tty. With `bindDevConsole`, the slave is also bound onto the container's
   * /dev/console (a container's start; not an exec).
   */
  | { op: 'console'; socketFd: number; rows: number; cols: number; bindDevConsole: boolean }
  /** Tell the parent the container is created, then block opening the exec FIFO until `start` reads it. */
  | { op: 'execFifo'; fd: number }
  /** Drop every capability not in `keep` from the bounding set. */
  | { op: 'bounding'; keep: bigint; lastCap: number }
  /** Keep permitted capabilities across the uid change that follows. */
  | { op: 'keepCaps' }
  | { op: 'setgroups'; gids: number[] }
  | { op: 'setgid'; gid: number }
  | { op: 'setuid'; uid: number }
  | { op: 'capset'; effective: bigint; permitted: bigint; inheritable: bigint }
  | { op: 'ambient'; caps: bigint }
  | { op: 'noNewPrivs' }
  /**
   * Load a seccomp filter: `program` is the BPF compiled in the parent (libseccomp), `flags`
   * seccomp(2)'s. With SECCOMP_FILTER_FLAG_NEW_LISTENER the listener fd is sent on
   * `listenerSocketFd` (a `sync` step follows, while the parent hands it to the agent).
   * `summary` says in words what the filter does, for `--explain`.
   */
  | { op: 'seccomp'; program: Buffer; flags: number; listenerSocketFd: number | null; summary: string }
  | { op: 'umask'; mask: number }
  /** chdir, then check that the new cwd is reachable from `/` (CVE-2024-21626: no cwd through a leaked fd). */
  | { op: 'chdir'; path: string }
  /** execve, looking `argv[0]` up in `searchPath` when it has no slash. Always the last step. */
  | { op: 'exec'; argv: string[]; env: string[]; searchPath: string };

/** Why the child pauses: the parent's side of each pause is the runtime's business. */
export enum SyncTag {
  /** Right after clone: write uid/gid maps, join cgroups. */
  Created = 1,
  /** Mounts are done, root not yet pivoted: createRuntime / createContainer hooks. */
  BeforePivot = 2,
  /** The seccomp filter is loaded and its notify listener fd sent: hand it to the seccomp agent. */
  SeccompListener = 3,
}

export interface Plan {
  /** Namespaces the clone creates. */
  cloneFlags: number;
  /** fds of the parent that become the child's 0, 1, 2. */
  stdio: [number, number, number];
  /** Other parent fds the child needs until exec (console socket, exec FIFO); everything else is closed at once. */
  keepFds: number[];
  steps: Step[];
}

// ---- binary form ---------------------------------------------------------------------------------
// header: 8 × i64   [magic, version, nsteps, cloneFlags, stdin, stdout, stderr, offset of the kept fds as "5,7"]
// step:   8 × i64   [op, a, b, c, d, e, f, g]  then 4 × i32 string offsets (-1 = none)
// strings follow the steps, NUL-terminated; a list is its items joined by NULs, its count in an int slot.
// A binary slot (bytes that may hold NULs: a BPF program) is placed among the strings at an 8-byte
// aligned offset; its offset and length are the step's last two ints (f, g).
// native/plan.h mirrors these numbers; test/plan-layout.test.ts holds the two together.

export const PLAN_MAGIC = 0x42525448; // "BRTH"
export const PLAN_VERSION = 1;
/** A step's int slots (after its op) and string slots: native/plan.h's struct plan_step i[7], s[4]. */
export const STEP_INTS = 7;
export const STEP_STRINGS = 4;
export const PLAN_HEADER_BYTES = 8 * 8;
export const PLAN_STEP_BYTES = 8 * (1 + STEP_INTS) + 4 * STEP_STRINGS;

export const OP_CODES: Record<Step['op'], number> = {
  setns: 1,
  forkIntoPidns: 2,
  sync: 3,
  openRoot: 4,
  mount: 5,
  mask: 6,
  mknod: 7,
  symlink: 8,
  pivotRoot: 9,
  moveRoot: 10,
  chroot: 11,
  writeProc: 12,
  sethostname: 13,
  setdomainname: 14,
  rlimit: 15,
  setsid: 16,
  console: 17,
  execFifo: 18,
  bounding: 19,
  keepCaps: 20,
  setgroups: 21,
  setgid: 22,
  setuid: 23,
  capset: 24,
  ambient: 25,
  noNewPrivs: 26,
  umask: 27,
  chdir: 28,
  exec: 29,
  unshare: 30,
  loopbackUp: 31,
  seccomp: 32,
};

/** The int slots of a step's binary slot (native/plan.h BLOB_OFFSET, BLOB_LENGTH). */
export const BLOB_OFFSET_SLOT = 5;
export const BLOB_LENGTH_SLOT = 6;

/** native/plan.h's CREATE_NONE, CREATE_DIR, CREATE_FILE. */
export const CREATE_CODES: Record<CreateKind, number> = { none: 0, dir: 1, file: 2 };

interface EncodedStep {
  ints: (number | bigint)[];
  strs: (string | null)[];
  blob?: Buffer;
}

/** The ints and strings of one step, in the slots native/child.c reads. */
function encodeStep(step: Step): EncodedStep {
  switch (step.op) {
    case 'setns':
      return { ints: [NS_FLAGS[step.ns]], strs: [step.path] };
    case 'sync':
      return { ints: [step.tag], strs: [] };
    case 'unshare':
      return { ints: [step.flags], strs: [] };
    case 'openRoot':
      return { ints: [], strs: [step.path] };
    case 'mount': {
      const src = step.source;
      return {
        ints: [
          step.flags,
          CREATE_CODES[step.create],
          src !== null && 'inRoot' in src ? 1 : 0,
          'inRoot' in step.target ? 1 : 0,
          step.keepFlags ? 1 : 0,
          step.optional ? 1 : 0,
          step.noSymlinks ? 1 : 0,
        ],
        strs: [src === null ? null : pathOf(src), pathOf(step.target), step.fstype, step.data],
      };
    }
    case 'mask':
      return { ints: [], strs: [step.path.inRoot] };
    case 'mknod':
      return { ints: [step.mode, step.major, step.minor, step.uid, step.gid], strs: [step.path.inRoot] };
    case 'symlink':
      return { ints: [], strs: [step.target, step.path.inRoot] };
    case 'writeProc':
      return { ints: [], strs: [step.path, step.content] };
    case 'sethostname':
    case 'setdomainname':
      return { ints: [], strs: [step.name] };
    case 'rlimit':
      return { ints: [step.resource, step.soft, step.hard], strs: [] };
    case 'console':
      return { ints: [step.socketFd, step.rows, step.cols, step.bindDevConsole ? 1 : 0], strs: [] };
    case 'execFifo':
      return { ints: [step.fd], strs: [] };
    case 'bounding':
      return { ints: [step.keep, step.lastCap], strs: [] };
    case 'setgroups':
      return { ints: [step.gids.length], strs: [list(step.gids)] };
    case 'setgid':
      return { ints: [step.gid], strs: [] };
    case 'setuid':
      return { ints: [step.uid], strs: [] };
    case 'capset':
      return { ints: [step.effective, step.permitted, step.inheritable], strs: [] };
    case 'ambient':
      return { ints: [step.caps], strs: [] };
    case 'umask':
      return { ints: [step.mask], strs: [] };
    case 'chdir':
      return { ints: [], strs: [step.path] };
    case 'exec':
      return {
        ints: [step.argv.length, step.env.length],
        strs: [list(step.argv), list(step.env), step.searchPath],
      };
    case 'seccomp':
      return { ints: [step.flags, step.listenerSocketFd ?? -1], strs: [], blob: step.program };
    case 'loopbackUp':
    case 'forkIntoPidns':
    case 'pivotRoot':
    case 'moveRoot':
    case 'chroot':
    case 'setsid':
    case 'keepCaps':
    case 'noNewPrivs':
      return { ints: [], strs: [] };
  }
}

/** Items joined for a list slot; an item holding a NUL would split in two, so it is refused here. */
function list(items: (string | number)[]): string {
  for (const item of items) {
    if (String(item).includes('\0')) throw new Error(`plan: a string holds a NUL byte: ${JSON.stringify(item)}`);
  }
  return items.join('\0');
}

export function pathOf(ref: PathRef): string {
  return 'inRoot' in ref ? ref.inRoot : ref.path;
}

/** The plan as the single buffer the executor parses before it clones. */
export function encodePlan(plan: Plan): Buffer {
  const encoded = plan.steps.map(encodeStep);
  const strings: Buffer[] = [];
  let stringsBytes = 0;
  const stringBase = PLAN_HEADER_BYTES + PLAN_STEP_BYTES * plan.steps.length;
  const addBytes = (bytes: Buffer): number => {
    const offset = stringBase + stringsBytes;
    strings.push(bytes);
    stringsBytes += bytes.length;
    return offset;
  };
  const addString = (s: string | null): number => (s === null ? -1 : addBytes(Buffer.from(s + '\0', 'utf8')));
  const addBlob = (blob: Buffer): number => {
    const misaligned = (stringBase + stringsBytes) % 8;
    if (misaligned) addBytes(Buffer.alloc(8 - misaligned));
    return addBytes(blob);
  };

  const head = Buffer.alloc(PLAN_HEADER_BYTES);
  const headInts: (number | bigint)[] = [
    PLAN_MAGIC,
    PLAN_VERSION,
    plan.steps.length,
    plan.cloneFlags,
    plan.stdio[0],
    plan.stdio[1],
    plan.stdio[2],
    plan.keepFds.length ? addString(plan.keepFds.join(',')) : -1,
  ];
  headInts.forEach((v, i) => head.writeBigInt64LE(BigInt(v), i * 8));

  const body = Buffer.alloc(PLAN_STEP_BYTES * plan.steps.length);
  encoded.forEach((e, i) => {
    const at = i * PLAN_STEP_BYTES;
    body.writeBigInt64LE(BigInt(OP_CODES[plan.steps[i].op]), at);
    const ints = [...e.ints];
    if (e.blob) {
      ints[BLOB_OFFSET_SLOT] = addBlob(e.blob);
      ints[BLOB_LENGTH_SLOT] = e.blob.length;
    }
    // asIntN: a u64 such as RLIM_INFINITY (2^64-1) is written as the same 64 bits, which C reads back.
    for (let k = 0; k < STEP_INTS; k++) body.writeBigInt64LE(BigInt.asIntN(64, BigInt(ints[k] ?? 0)), at + 8 + k * 8);
    for (let k = 0; k < STEP_STRINGS; k++) body.writeInt32LE(addString(e.strs[k] ?? null), at + 8 * (1 + STEP_INTS) + k * 4);
  });
  return Buffer.concat([head, body, ...strings]);
}

/** The resources' names as prlimit(1) spells them, indexed by RLIMIT_* number (an rlimit step's `resource`). */
export const RLIMIT_NAMES: readonly string[] = [
  'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'nproc', 'nofile',
  'memlock', 'as', 'locks', 'sigpending', 'msgqueue', 'nice', 'rtprio', 'rttime',
];

/** A limit of an rlimit step as people write it: RLIM_INFINITY is `unlimited`. */
export function rlimitText(value: bigint): string {
  return value === 0xffffffffffffffffn ? 'unlimited' : String(value);
}
