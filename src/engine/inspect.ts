// `berth inspect`: a container in docker's JSON shape, for the fields berth has. Scripts written
// against `docker inspect -f '{{.State.ExitCode}}'` read the same paths here.
import type { Spec } from '../oci/runtime-spec.js';
import type { ContainerRecord } from './containers.js';
import { INIT_PATH } from './container-spec.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function inspectContainer(record: ContainerRecord, spec: Spec, paths: { log: string; bundle: string }): Record<string, unknown> {
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
    NetworkSettings: {},
  };
}
