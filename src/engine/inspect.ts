// `inspect`: a container or an image in docker's JSON shape, for the fields berth has, as `berth
// inspect` prints them and the Engine API answers. Scripts written against `docker inspect -f
// '{{.State.ExitCode}}'` read the same paths here.
import { familiarName, imageConfig, parseReference, type ImageStore } from '../image/index.js';
import type { Spec } from '../oci/runtime-spec.js';
import type { ContainerRecord } from './containers.js';
import { INIT_PATH } from './container-spec.js';
import { DEFAULT_HOST_OPTIONS } from './host-options.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function inspectContainer(record: ContainerRecord, spec: Spec, paths: { log: string; bundle: string }, networkSettings: Record<string, unknown> = {}): Record<string, unknown> {
  const status = record.state.status;
  const args = spec.process.args[0] === INIT_PATH ? spec.process.args.slice(2) : spec.process.args;
  const resources = spec.linux?.resources;
  return {
    Id: record.id,
    Created: record.created,
    Path: args[0],
    Args: args.slice(1),
    State: {
      Status: status,
      Running: status === 'running' || status === 'paused',
      Paused: status === 'paused',
      Restarting: false,
      OOMKilled: record.state.oomKilled,
      Dead: false,
      Pid: status === 'running' || status === 'paused' ? record.state.pid : 0,
      ExitCode: record.state.exitCode,
      Error: record.state.error ?? '',
      StartedAt: record.state.startedAt ?? ZERO_TIME,
      FinishedAt: record.state.finishedAt ?? ZERO_TIME,
    },
    Image: `sha256:${record.imageId.replace(/^sha256:/, '')}`,
    ResolvConfPath: spec.mounts?.find((m) => m.destination === '/etc/resolv.conf')?.source ?? '',
    HostnamePath: spec.mounts?.find((m) => m.destination === '/etc/hostname')?.source ?? '',
    HostsPath: spec.mounts?.find((m) => m.destination === '/etc/hosts')?.source ?? '',
    LogPath: record.monitored ? paths.log : '',
    Name: `/${record.name}`,
    RestartCount: record.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    HostConfig: {
      AutoRemove: record.autoRemove,
      RestartPolicy: { Name: record.restartPolicy.name, MaximumRetryCount: record.restartPolicy.maximumRetryCount },
      Init: record.init,
      ReadonlyRootfs: spec.root.readonly ?? false,
      Isolation: record.isolation,
      NanoCpus: resources?.cpu?.quota && resources.cpu.period ? Math.round((resources.cpu.quota / resources.cpu.period) * 1e9) : 0,
      Memory: resources?.memory?.limit ?? 0,
      PidsLimit: resources?.pids?.limit ?? null,
      // As given, as docker's API (swagger.yaml HostConfig) has them: null when none.
      Privileged: record.security?.privileged ?? false,
      CapAdd: record.security?.capAdd ?? null,
      CapDrop: record.security?.capDrop ?? null,
      SecurityOpt: record.security?.securityOpt ?? null,
      ...hostConfigOf(record),
    },
    Mounts: (spec.mounts ?? [])
      .filter((m) => m.type === 'bind' && !['/etc/resolv.conf', '/etc/hostname', '/etc/hosts', INIT_PATH].includes(m.destination))
      .map((m) => ({ Type: 'bind', Source: m.source, Destination: m.destination, RW: !(m.options ?? []).includes('ro') })),
    Config: {
      Hostname: spec.hostname ?? '',
      Domainname: spec.domainname ?? '',
      User: !spec.process.user || (spec.process.user.uid === 0 && spec.process.user.gid === 0) ? '' : `${spec.process.user.uid}:${spec.process.user.gid}`,
      Tty: record.tty,
      OpenStdin: record.openStdin,
      StdinOnce: record.stdinOnce,
      Env: spec.process.env ?? [],
      Cmd: args,
      Image: record.image,
      WorkingDir: spec.process.cwd,
      Labels: record.labels,
      StopSignal: record.stopSignal ?? 'SIGTERM',
    },
    NetworkSettings: networkSettings,
  };
}

/** An image in docker's `image inspect` shape. */
export async function inspectImage(images: ImageStore, ref: string): Promise<Record<string, unknown>> {
  const record = images.resolve(ref);
  const config = await imageConfig(images, record);
  const size = images.diskUsage().images.find((u) => u.id === record.id)?.size ?? 0;
  return {
    Id: record.id,
    RepoTags: record.names.map((n) => familiarName(parseReference(n))),
    RepoDigests: record.repoDigests,
    Created: config.created ?? '',
    Author: config.author ?? '',
    Config: config.config ?? {},
    Architecture: config.architecture,
    Os: config.os,
    Size: size,
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: record.added },
  };
}

/** --device, --sysctl, --ulimit, ... in docker's HostConfig fields, with docker's empty values (null for none). */
function hostConfigOf(record: ContainerRecord): Record<string, unknown> {
  const o = record.hostOptions ?? DEFAULT_HOST_OPTIONS;
  return {
    Devices: o.Devices,
    DeviceCgroupRules: o.DeviceCgroupRules.length ? o.DeviceCgroupRules : null,
    ...(Object.keys(o.Sysctls).length ? { Sysctls: o.Sysctls } : {}),
    Ulimits: o.Ulimits,
    GroupAdd: o.GroupAdd.length ? o.GroupAdd : null,
    ShmSize: o.ShmSize,
    OomScoreAdj: o.OomScoreAdj,
  };
}
