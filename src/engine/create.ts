// `create`: a container from an image and the flags, made whole or not at all: its record, its
// directories and init layer, its volumes (copied up from the image), its bundle (config.json with
// docker's defaults) and its network request. Nothing runs yet; the container is `created`.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imageLayers, type ImageConfig } from '../image/index.js';
import { configEnv, containerCommand, containerSpec, EngineUsageError, type RunOptions } from './container-spec.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { containerPaths, lowerDirs, makeInitLayer, rootfsOverlay, type EngineContext, type Explain } from './context.js';
import { writeContainerFiles } from './etc-files.js';
import { applyHostOptions, checkHostOptions, DEFAULT_HOST_OPTIONS, type HostOptions } from './host-options.js';
import { ensureLayers, readImageFile, storageDir } from './layers.js';
import { recordContainerEvent } from './events.js';
import { discardFiles } from './lifecycle.js';
import { withImageVolumes, type MountRequest } from './mount-flags.js';
import { applyNetworkNamespace, type NetworkRequest } from './network/index.js';
import { NO_RESTART, type RestartPolicy } from './restart-policy.js';
import { applySecurity, securitySettings, type SecurityOptions } from './security.js';
import { resolveUser } from './users.js';
import { prepareMounts } from './volumes.js';

export interface EngineRunOptions extends RunOptions {
  image: string;
  name?: string;
  user?: string;
  rm: boolean;
  labels?: Record<string, string>;
  restart?: RestartPolicy;
  stopSignal?: string;
  /** Run under conmon: `run -d`, `create`, `run -it` (detachable), a restart policy. */
  monitored?: boolean;
  /** -i: keep stdin open for attach. */
  interactive?: boolean;
  /** -d: nobody attaches at the start. */
  detach?: boolean;
  /** -v/--mount/--tmpfs, parsed (parseMountFlags). */
  mounts?: MountRequest[];
  /** --explain: each step as a shell line, before it happens. */
  explain?: Explain;
  /** networking: --network, -p... (network/options.ts); absent: a namespace with lo only. */
  network?: NetworkRequest;
  /** --security-opt, --cap-add/--cap-drop, --privileged (security.ts); absent: the defaults. */
  security?: SecurityOptions;
  /** --device, --sysctl, --ulimit, --group-add, --shm-size, ... as docker's HostConfig fields (host-options.ts). */
  hostOptions?: HostOptions;
}

/** Makes the container (its record, dirs and bundle) from the image; nothing runs yet. */
export async function createContainer(ctx: EngineContext, opts: EngineRunOptions): Promise<ContainerRecord> {
  if (opts.mounts?.length && opts.isolation === 'chroot') throw new EngineUsageError('-v/--mount/--tmpfs need a mount namespace: they cannot go with --isolation chroot');
  const security = securitySettings(opts.security);
  // As dockerd: a ShmSize of 0 is the default, and recorded as such.
  const given = opts.hostOptions ?? DEFAULT_HOST_OPTIONS;
  const hostOptions = { ...given, ShmSize: given.ShmSize || DEFAULT_HOST_OPTIONS.ShmSize };
  checkHostOptions(hostOptions);
  const image = await imageLayers(ctx.images, opts.image);
  const layerDirs = await ensureLayers(ctx.images, ctx.root, image);
  const config: ImageConfig['config'] = image.config.config ?? {};
  const { id, name, dir } = ctx.containers.allocate(opts.name);
  const record: ContainerRecord = {
    id,
    name,
    created: new Date().toISOString(),
    image: opts.image,
    imageId: image.record.id,
    command: [],
    isolation: opts.isolation,
    layers: image.layers.map((l) => l.chainID),
    stopSignal: opts.stopSignal ?? config.StopSignal,
    autoRemove: opts.rm,
    labels: { ...(config.Labels ?? {}), ...(opts.labels ?? {}) },
    restartPolicy: opts.restart ?? NO_RESTART,
    restartCount: 0,
    monitored: opts.monitored ?? false,
    tty: opts.terminal,
    openStdin: opts.interactive ?? false,
    stdinOnce: (opts.interactive ?? false) && !opts.detach && !opts.terminal,
    init: opts.init !== undefined,
    ...(opts.security ? { security: opts.security } : {}),
    hostOptions,
    state: { status: 'created', pid: 0, exitCode: 0, oomKilled: false },
  };
  if (record.monitored && opts.isolation === 'chroot') {
    ctx.containers.remove(record);
    throw new ContainerStoreError('--isolation chroot runs in the foreground only: its rootfs is a host mount that lives as long as the berth process');
  }
  try {
    const paths = containerPaths(dir);
    for (const d of [paths.upper, paths.work, paths.rootfs, paths.bundle]) mkdirSync(d, { mode: 0o755 });
    makeInitLayer(paths.init);
    const user = resolveUser(opts.user ?? config.User, (path) => readImageFile(layerDirs, path));
    const hostname = opts.hostname || id.slice(0, 12);
    const files = writeContainerFiles(dir, hostname);
    // Volumes are made (and copied up from the image) before the spec that mounts them.
    const requests = opts.isolation === 'chroot' ? [] : withImageVolumes(opts.mounts ?? [], Object.keys(config.Volumes ?? {}), opts.image);
    const userMounts = await prepareMounts(ctx.volumes, requests, { lowerDirs: lowerDirs(ctx, record), linkDir: join(storageDir(ctx.root), 'l'), mountPoint: join(dir, 'copyup') });
    record.mounts = userMounts.recorded;
    const spec = containerSpec({
      id,
      image: config,
      opts: { ...opts, hostname },
      user,
      rootfs: paths.rootfs,
      overlay: opts.isolation === 'chroot' ? null : rootfsOverlay(ctx, record),
      files,
      userMounts: userMounts.mounts,
    });
    applySecurity(spec, security);
    // Its network namespace is made at start (a file under /run/netns), or it is the host's or another's.
    const netns = await ctx.network.prepare({ id, name, hostname, hostsFile: files.hosts, resolvConfFile: files.resolvConf }, opts.network ?? { mode: { kind: 'none' }, ports: [], dns: [], extraHosts: [], aliases: [] }, config.ExposedPorts);
    applyNetworkNamespace(spec, netns);
    applyHostOptions(spec, hostOptions, (path) => readImageFile(layerDirs, path));
    record.command = opts.init ? spec.process.args.slice(2) : spec.process.args; // as docker shows it: without its init
    const { entrypoint, cmd } = containerCommand(config, opts);
    record.config = {
      Entrypoint: entrypoint.length ? entrypoint : null,
      Cmd: cmd.length ? cmd : null,
      Env: configEnv(config, opts.env),
      ...(opts.workdir || config.WorkingDir ? { WorkingDir: opts.workdir || config.WorkingDir } : {}),
      ...(opts.user ?? config.User ? { User: opts.user ?? config.User } : {}),
    };
    writeFileSync(join(paths.bundle, 'config.json'), JSON.stringify(spec, null, 2));
    ctx.containers.save(record);
    recordContainerEvent(ctx.root, record, 'create');
    return record;
  } catch (err) {
    await discardFiles(ctx, record, true);
    throw err;
  }
}
