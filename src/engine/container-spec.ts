// An image's config plus `berth run`'s flags → the OCI config.json the runtime runs, with
// Docker's defaults: its capability list, masked and read-only paths, /dev, and the files
// /etc/hostname, /etc/hosts and /etc/resolv.conf made for the container.
import { existsSync } from 'node:fs';
import type { Mount, Spec } from '../oci/runtime-spec.js';
import { OCI_VERSION } from '../runtime/default-spec.js';
import { ROOTFS_OVERLAY_ANNOTATION, type RootfsOverlay } from '../runtime/rootfs-mount.js';
import type { ResolvedUser } from './users.js';
import { BerthError, type ErrorKind } from '../errors.js';

/** What of an image's config a container is made from (OCI image config `config`, Docker's too). */
export interface ImageRunConfig {
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  User?: string;
  StopSignal?: string;
}

export interface RunOptions {
  /** The command after the image name; replaces the image's Cmd. */
  command: string[];
  /** --entrypoint (one word; '' clears the image's), or the API's list. */
  entrypoint?: string | string[];
  env: string[];
  workdir?: string;
  hostname: string;
  readOnly: boolean;
  terminal: boolean;
  /** --cpus: CPUs' worth of time per period. */
  cpus?: number;
  /** --memory, bytes. */
  memory?: number;
  pidsLimit?: number;
  /** chroot: no mount namespace, as the seed's first step; otherwise pivot_root into an overlay. */
  isolation: 'default' | 'chroot';
  /** --init: a static tini (host path) bound in as PID 1, forwarding signals and reaping zombies. */
  init?: string;
}

/** Where --init's tini appears in the container, and how it is called: docker's choice. */
export const INIT_PATH = '/sbin/docker-init';

export interface ContainerFiles {
  hostname: string;
  hosts: string;
  resolvConf: string;
}

/** Docker's default capabilities. */
export const DOCKER_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class EngineUsageError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'EngineUsageError';
}

/** --init's PID 1: a static tini (it runs inside any image), docker's docker-init. */
export function initBinary(): string {
  const found = ['/usr/bin/tini-static', '/usr/bin/catatonit', '/usr/libexec/podman/catatonit'].find((p) => existsSync(p));
  if (!found) throw new EngineUsageError('--init: no static init found (apt-get install tini, for /usr/bin/tini-static)');
  return found;
}

/** Docker's rule: --entrypoint replaces the image's and drops its Cmd; a command replaces Cmd. */
export function containerCommand(image: ImageRunConfig, opts: Pick<RunOptions, 'command' | 'entrypoint'>): { entrypoint: string[]; cmd: string[] } {
  const given = typeof opts.entrypoint === 'string' ? (opts.entrypoint === '' ? [] : [opts.entrypoint]) : opts.entrypoint;
  const entrypoint = given ?? image.Entrypoint ?? [];
  const cmd = opts.command.length ? opts.command : opts.entrypoint !== undefined ? [] : (image.Cmd ?? []);
  if (entrypoint.length + cmd.length === 0) throw new EngineUsageError('no command specified: the image has no Entrypoint or Cmd, and none was given');
  return { entrypoint, cmd };
}

export function processArgs(image: ImageRunConfig, opts: Pick<RunOptions, 'command' | 'entrypoint'>): string[] {
  const { entrypoint, cmd } = containerCommand(image, opts);
  return [...entrypoint, ...cmd];
}

/** The image's env with the flags' over it (a later NAME wins): the container's Config.Env as docker keeps it. */
export function configEnv(image: ImageRunConfig, env: string[]): string[] {
  return mergedEnv([...(image.Env ?? []), ...givenEnv(env)]);
}

/**
 * The NAME=VALUE entries of -e/Env. A bare NAME is the front end's to resolve from its own
 * environment (docker's CLI and berth's do); one that reaches the engine was unset there, and is
 * left unset, as under dockerd (never read from the engine's or the service's own environment).
 */
export function givenEnv(entries: string[]): string[] {
  return entries.filter((e) => e.includes('='));
}

/**
 * The process's env as docker builds it: PATH, HOSTNAME and (with -t) TERM=xterm, under Config.Env,
 * so an image's or a flag's TERM or PATH wins (as `exec -t` already did).
 */
export function processEnv(image: ImageRunConfig, opts: Pick<RunOptions, 'env' | 'hostname' | 'terminal'>): string[] {
  const defaults = [DEFAULT_PATH, `HOSTNAME=${opts.hostname}`, ...(opts.terminal ? ['TERM=xterm'] : [])];
  return mergedEnv([...defaults, ...configEnv(image, opts.env)]);
}

/** NAME=VALUE entries, a later NAME replacing an earlier one in its place. */
function mergedEnv(entries: string[]): string[] {
  const byName = new Map<string, string>();
  for (const e of entries) byName.set(e.split('=')[0], e);
  return [...byName.values()];
}

function withHome(env: string[], home: string): string[] {
  return env.some((e) => e.startsWith('HOME=')) ? env : [...env, `HOME=${home}`];
}

function resources(opts: RunOptions): NonNullable<Spec['linux']>['resources'] {
  return { devices: [{ allow: false, access: 'rwm' }], ...limitResources(opts) };
}

/** --cpus, --memory and --pids-limit as the spec's resources (create's, and update's changes). */
export function limitResources(opts: Pick<RunOptions, 'cpus' | 'memory' | 'pidsLimit'>): NonNullable<NonNullable<Spec['linux']>['resources']> {
  const r: NonNullable<NonNullable<Spec['linux']>['resources']> = {};
  if (opts.cpus !== undefined) r.cpu = { quota: Math.round(opts.cpus * 100_000), period: 100_000 };
  // As docker: with --memory and no --memory-swap, as much swap again.
  if (opts.memory !== undefined) r.memory = { limit: opts.memory, swap: opts.memory * 2 };
  if (opts.pidsLimit !== undefined) r.pids = { limit: opts.pidsLimit };
  return r;
}

function mounts(files: ContainerFiles, readOnly: boolean): Mount[] {
  const bind = (source: string, destination: string): Mount => ({
    destination,
    type: 'bind',
    source,
    options: ['rbind', 'rprivate', ...(readOnly ? ['ro'] : [])],
  });
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    bind(files.hostname, '/etc/hostname'),
    bind(files.hosts, '/etc/hosts'),
    bind(files.resolvConf, '/etc/resolv.conf'),
  ];
}

/**
 * The config.json of a container. `overlay` is its rootfs as layers (mounted by the runtime's
 * child in the container's own mount namespace); null with chroot isolation, where the engine
 * mounts the rootfs itself.
 */
export function containerSpec(args: {
  id: string;
  image: ImageRunConfig;
  opts: RunOptions;
  user: ResolvedUser;
  rootfs: string;
  overlay: RootfsOverlay | null;
  files: ContainerFiles;
  /** The user's -v/--mount/--tmpfs mounts, after the engine's own (see prepareMounts in volumes.ts). */
  userMounts?: Mount[];
}): Spec {
  const { id, image, opts, user } = args;
  const chroot = opts.isolation === 'chroot';
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: opts.terminal,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids },
      args: opts.init ? [INIT_PATH, '--', ...processArgs(image, opts)] : processArgs(image, opts),
      // HOME from the image's passwd entry, as docker sets it (the runtime cannot look: the rootfs
      // is an overlay that only the container's child mounts).
      env: withHome(processEnv(image, opts), user.home),
      cwd: opts.workdir || image.WorkingDir || '/',
      capabilities: { bounding: [...DOCKER_CAPABILITIES], effective: [...DOCKER_CAPABILITIES], permitted: [...DOCKER_CAPABILITIES] },
    },
    root: { path: args.rootfs, readonly: opts.readOnly },
    hostname: opts.hostname,
    mounts: chroot ? [] : [...mounts(args.files, opts.readOnly), ...(opts.init ? [{ destination: INIT_PATH, type: 'bind', source: opts.init, options: ['rbind', 'ro', 'rprivate'] }] : []), ...(args.userMounts ?? [])],
    annotations: args.overlay ? { [ROOTFS_OVERLAY_ANNOTATION]: JSON.stringify(args.overlay) } : {},
    linux: {
      cgroupsPath: `/berth/${id}`,
      resources: resources(opts),
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'network' },
        { type: 'cgroup' },
        ...(chroot ? [] : [{ type: 'mount' as const }]),
      ],
      ...(chroot ? {} : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] }),
    },
  };
  if (chroot) spec.root.readonly = false;
  return spec;
}
