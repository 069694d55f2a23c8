// The typed face of the native addon (native/*.c). Nothing else imports the .node file.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { findUp } from '../fs/find-up.js';

export interface SpawnResult {
  pid: number;
  pidfd: number;
  /** Read end of the child's status pipe: 16-byte records, EOF at a successful execve. */
  statusFd: number;
  /** Write end of the pipe that ends the child's pauses (one byte each). */
  syncFd: number;
}

/** How a process ended: `code` when it exited, `signal` when a signal killed it. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

/** An OpenSSL sha256 context in the addon (native/digest.c). */
export type NativeHash = { readonly __nativeHash: unique symbol };

export interface NativeAddon {
  sha256New(): NativeHash;
  /** Adds `data` to the hash, in this thread. */
  sha256Update(hash: NativeHash, data: Buffer): void;
  /** The hex digest of all that was added; the hash is spent. */
  sha256Digest(hash: NativeHash): string;
  /**
   * In the thread pool: writes all of `buffers` to `fd` (at its offset; short writes continued),
   * starts their writeback (sync_file_range: the caller's fsync then has less to wait for), then
   * adds them to `hash`; `callback(errno)` (0: done). One job per hash at a time; the buffers
   * must not change until the callback.
   */
  writevHash(fd: number, buffers: Buffer[], hash: NativeHash, callback: (errno: number) => void): void;
  /** A sealed memfd copy of the berth-init executable (close-on-exec): what every child execs first. */
  sealInit(path: string): number;
  /** Clones a child that execs berth-init (`initFd`, from sealInit), which runs the plan. */
  spawn(plan: Buffer, initFd: number): SpawnResult;
  /** Calls back once when the process behind the pidfd has exited; null when it was not our child. */
  watchExit(pidfd: number, callback: (status: ExitStatus | null) => void): void;
  reap(pidfd: number): ExitStatus;
  pidfdOpen(pid: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  openPath(path: string): number;
  /**
   * openat2(2): `path` looked up from `dirfd` under `resolve` (RESOLVE.*), O_CLOEXEC added; `mode`
   * only with O_CREAT. The caller closes the fd.
   */
  openat2(dirfd: number, path: string, flags: number, mode: number, resolve: number): number;
  mkfifo(path: string, mode: number): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  socketpair(): [number, number];
  /** pipe2(O_CLOEXEC): [read end, write end]. */
  pipe(): [number, number];
  /** A connected AF_UNIX socket: a stream, or SOCK_SEQPACKET (conmon's attach socket). */
  unixConnect(path: string, seqpacket?: boolean): number;
  /** shutdown(2): how 0 (SHUT_RD), 1 (SHUT_WR: the peer reads end-of-file), 2 (SHUT_RDWR: also wakes a blocked read). */
  shutdown(fd: number, how: 0 | 1 | 2): void;
  unixListen(path: string): number;
  accept(socket: number): number;
  recvFd(socket: number): number;
  /** Sends `data` with `fd` attached (SCM_RIGHTS) on the first sendmsg; the rest of a long payload follows. */
  sendFd(socket: number, fd: number, data: Buffer): void;
  setWinsize(fd: number, rows: number, cols: number): void;
  /** The terminal's OPOST (output processing: "\n" to "\r\n"), on or off. */
  setOutputProcessing(fd: number, on: boolean): void;
  /** mknod(2); `mode` includes the file type (S_IFCHR 0o020000, S_IFBLK 0o060000). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** Extended attributes, never following a final symlink (the l*xattr calls). */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** null when the attribute is not set. */
  lgetxattr(path: string, name: string): Buffer | null;
  /** The names, NUL-separated (see listXattrs in src/storage/xattr.ts). */
  llistxattr(path: string): Buffer;
  /** Loads a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its fd. */
  bpfLoadDeviceFilter(instructions: Buffer): number;
  bpfAttachDeviceFilter(programFd: number, cgroupDir: string): void;
  /** libseccomp: the encoded request (src/kernel/seccomp.ts) compiled to a BPF program. A failing rule throws with `rule`. */
  seccompCompile(request: Buffer): Buffer;
  /** libseccomp's numbers for syscall names on this architecture; null for a name it does not know. */
  seccompSyscalls(names: string[]): (number | null)[];
  /** libseccomp's token for an architecture name ("x86_64"), 0 if unknown; without a name, the native one's. */
  seccompArch(name?: string): number;
  /** The libseccomp version in use, "2.5.4". */
  seccompVersion(): string;
  /** Whether this kernel accepts these SECCOMP_SET_MODE_FILTER flags (nothing is loaded). */
  seccompFlagsSupported(flags: number): boolean;
}

/** openat2's RESOLVE_* flags (<linux/openat2.h>). */
export const RESOLVE = {
  NO_XDEV: 0x01,
  NO_MAGICLINKS: 0x02,
  NO_SYMLINKS: 0x04,
  BENEATH: 0x08,
  IN_ROOT: 0x10,
} as const;

/** Open flags Node's fs.constants lacks. */
export const O_PATH = 0o10000000;

/** What node-gyp built at install (the addon, berth-init): build/Release/ of the package, found from this file up. */
export function builtFile(name: string): string {
  const path = findUp(import.meta.url, join('build', 'Release', name));
  if (!path) throw new Error(`berth: build/Release/${name} is not built (run npm install in the berth package)`);
  return path;
}

export const native: NativeAddon = createRequire(import.meta.url)(builtFile('berth_native.node'));

let initFd: number | undefined;

/**
 * The fd of the sealed copy of berth-init (native/init.c), made at the first spawn and kept for the
 * process's life: a child of this process that enters a container runs from it, never from the
 * host's node binary (CVE-2019-5736).
 */
export function sealedInit(): number {
  initFd ??= native.sealInit(builtFile('berth-init'));
  return initFd;
}
