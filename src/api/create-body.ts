// `POST /containers/create`: Docker's container config and HostConfig turned into the engine's
// run options, through the same parsers as `berth run`'s flags (mounts, ports, networks, restart
// policies, devices, sysctls, capabilities). A field berth cannot honour is refused by name, never
// dropped: a client that asks for CpuShares or a log driver learns that berth did not give it.
import { initBinary } from '../engine/container-spec.js';
import type { EngineRunOptions } from '../engine/create.js';
import type { DeviceMapping, Ulimit } from '../engine/host-options.js';
import { parseMountFlags } from '../engine/mount-flags.js';
import { networkRequest } from '../engine/network/index.js';
import { parseRestartPolicy } from '../engine/restart-policy.js';
import { ApiError, bodyString as str, bodyStrings as strings } from './http.js';

type Json = Record<string, unknown>;

/** Fields berth has no way to honour: refused when set to anything but their zero value. */
const UNSUPPORTED_CONFIG = ['Domainname', 'Healthcheck', 'OnBuild', 'Shell', 'StopTimeout', 'NetworkDisabled'];
const UNSUPPORTED_HOST = [
  'VolumesFrom', 'Links', 'DeviceRequests',
  'CpuShares', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod', 'CpuRealtimeRuntime', 'CpusetCpus', 'CpusetMems', 'CpuCount', 'CpuPercent',
  'BlkioWeight', 'BlkioWeightDevice', 'BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps',
  'MemoryReservation', 'KernelMemory', 'KernelMemoryTCP', 'OomKillDisable', 'StorageOpt',
  'DnsOptions', 'DnsSearch', 'CgroupParent', 'Cgroup', 'Runtime', 'VolumeDriver', 'MaskedPaths', 'ReadonlyPaths',
  'IOMaximumIOps', 'IOMaximumBandwidth',
];
// ContainerIDFile is the client's to write (docker run --cidfile), as dockerd leaves it.
/** Namespace modes: only the default (empty, or the value that means it) is berth's. */
const DEFAULT_MODES: Record<string, string[]> = { IpcMode: ['', 'private', 'shareable'], PidMode: ['', 'private'], UTSMode: [''], UsernsMode: ['', 'host'], CgroupnsMode: ['', 'private'], Isolation: ['', 'default'] };

function isZero(v: unknown): boolean {
  if (v === undefined || v === null || v === '' || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

function num(where: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === 0) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApiError('invalid-argument', `${where}: must be a number`);
  return v;
}

function obj(where: string, v: unknown): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError('invalid-argument', `${where}: must be an object`);
  return v as Json;
}

function stringMap(where: string, v: unknown): Record<string, string> {
  const o = obj(where, v);
  for (const [k, x] of Object.entries(o)) if (typeof x !== 'string') throw new ApiError('invalid-argument', `${where}.${k}: must be a string`);
  return o as Record<string, string>;
}

/** A Mount object as `--mount`'s text, for the one parser of mounts. */
function mountText(m: Json, i: number): string {
  const where = `HostConfig.Mounts[${i}]`;
  const parts = [`type=${str(`${where}.Type`, m.Type) ?? 'volume'}`];
  const source = str(`${where}.Source`, m.Source);
  if (source) parts.push(`source=${source}`);
  parts.push(`target=${str(`${where}.Target`, m.Target) ?? ''}`);
  if (m.ReadOnly === true) parts.push('readonly');
  for (const key of Object.keys(m)) {
    if (!['Type', 'Source', 'Target', 'ReadOnly', 'Consistency', 'BindOptions', 'VolumeOptions', 'TmpfsOptions'].includes(key)) throw new ApiError('invalid-argument', `${where}.${key}: berth does not support it`);
  }
  const bind = obj(`${where}.BindOptions`, m.BindOptions);
  if (bind.Propagation) parts.push(`bind-propagation=${str(`${where}.BindOptions.Propagation`, bind.Propagation)}`);
  for (const key of Object.keys(bind)) if (key !== 'Propagation' && !isZero(bind[key])) throw new ApiError('invalid-argument', `${where}.BindOptions.${key}: berth does not support it`);
  const volume = obj(`${where}.VolumeOptions`, m.VolumeOptions);
  if (volume.NoCopy === true) parts.push('volume-nocopy');
  for (const key of Object.keys(volume)) if (key !== 'NoCopy' && !isZero(volume[key])) throw new ApiError('invalid-argument', `${where}.VolumeOptions.${key}: berth does not support it`);
  const tmpfs = obj(`${where}.TmpfsOptions`, m.TmpfsOptions);
  if (tmpfs.SizeBytes) parts.push(`tmpfs-size=${num(`${where}.TmpfsOptions.SizeBytes`, tmpfs.SizeBytes)}`);
  if (tmpfs.Mode) parts.push(`tmpfs-mode=${(num(`${where}.TmpfsOptions.Mode`, tmpfs.Mode) ?? 0).toString(8)}`);
  return parts.join(',');
}

/** PortBindings as `-p` texts: `[IP:][HOSTPORT]:PORT/PROTO`. */
function publishTexts(bindings: Json): string[] {
  const out: string[] = [];
  for (const [port, list] of Object.entries(bindings)) {
    if (!/^\d+(\/(tcp|udp|sctp))?$/.test(port)) throw new ApiError('invalid-argument', `HostConfig.PortBindings: ${port}: not PORT/PROTOCOL`);
    const entries = list === null ? [] : Array.isArray(list) ? list : [list];
    if (entries.length === 0) out.push(port);
    for (const [i, b] of entries.entries()) {
      const binding = obj(`HostConfig.PortBindings["${port}"][${i}]`, b);
      const ip = str(`HostConfig.PortBindings["${port}"][${i}].HostIp`, binding.HostIp);
      // "0" is any free port, as an empty one (testcontainers asks so).
      const given = str(`HostConfig.PortBindings["${port}"][${i}].HostPort`, binding.HostPort);
      const hostPort = given === '0' ? undefined : given;
      out.push(ip ? `${ip}:${hostPort ?? ''}:${port}` : hostPort ? `${hostPort}:${port}` : port);
    }
  }
  return out;
}

/** The endpoint settings of the container's network (NetworkingConfig), for aliases and a fixed address. */
function endpointOf(body: Json, network: string | undefined): { aliases: string[]; ip?: string } {
  const endpoints = obj('NetworkingConfig.EndpointsConfig', obj('NetworkingConfig', body.NetworkingConfig).EndpointsConfig);
  const names = Object.keys(endpoints);
  if (names.length > 1) throw new ApiError('invalid-argument', 'NetworkingConfig.EndpointsConfig: berth connects a container to one network at create (connect the others after)');
  if (names.length === 0) return { aliases: [] };
  if (network !== undefined && names[0] !== network) throw new ApiError('invalid-argument', `NetworkingConfig.EndpointsConfig: ${names[0]} is not HostConfig.NetworkMode ${network}`);
  const e = obj(`NetworkingConfig.EndpointsConfig.${names[0]}`, endpoints[names[0]]);
  const ipam = obj(`NetworkingConfig.EndpointsConfig.${names[0]}.IPAMConfig`, e.IPAMConfig);
  return { aliases: strings(`NetworkingConfig.EndpointsConfig.${names[0]}.Aliases`, e.Aliases), ip: str('IPAMConfig.IPv4Address', ipam.IPv4Address) };
}

/** A list of objects whose fields are strings or numbers, as docker's Devices and Ulimits. */
function records<T>(where: string, v: unknown, fields: Record<string, 'string' | 'number'>): T[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ApiError('invalid-argument', `${where}: must be a list`);
  return v.map((item, i) => {
    const o = obj(`${where}[${i}]`, item);
    for (const [k, type] of Object.entries(fields)) if (typeof o[k] !== type) throw new ApiError('invalid-argument', `${where}[${i}].${k}: must be a ${type}`);
    return o as T;
  });
}

/** --device, --sysctl, --ulimit, --group-add, --shm-size, --oom-score-adj and the security flags, in docker's own fields. */
function hostAndSecurity(host: Json): Pick<EngineRunOptions, 'hostOptions' | 'security'> {
  const sysctls = stringMap('HostConfig.Sysctls', host.Sysctls);
  return {
    hostOptions: {
      Devices: records<DeviceMapping>('HostConfig.Devices', host.Devices, { PathOnHost: 'string', PathInContainer: 'string', CgroupPermissions: 'string' }),
      DeviceCgroupRules: strings('HostConfig.DeviceCgroupRules', host.DeviceCgroupRules),
      Sysctls: sysctls,
      Ulimits: records<Ulimit>('HostConfig.Ulimits', host.Ulimits, { Name: 'string', Soft: 'number', Hard: 'number' }),
      GroupAdd: strings('HostConfig.GroupAdd', host.GroupAdd),
      ShmSize: num('HostConfig.ShmSize', host.ShmSize) ?? 0,
      OomScoreAdj: num('HostConfig.OomScoreAdj', host.OomScoreAdj) ?? 0,
    },
    security: {
      securityOpt: strings('HostConfig.SecurityOpt', host.SecurityOpt),
      capAdd: strings('HostConfig.CapAdd', host.CapAdd),
      capDrop: strings('HostConfig.CapDrop', host.CapDrop),
      privileged: host.Privileged === true,
    },
  };
}

export interface CreateRequest {
  options: EngineRunOptions;
  /** Someone attaches at the start (AttachStdin): stdin ends with that client's, as docker's StdinOnce. */
  attachStdin: boolean;
}

/** The body of a create, checked, as the engine's options. */
export function createOptions(body: Json, name: string | undefined): CreateRequest {
  const host = obj('HostConfig', body.HostConfig);
  const image = str('Image', body.Image);
  if (!image) throw new ApiError('invalid-argument', 'Image: a container needs an image');
  for (const f of UNSUPPORTED_CONFIG) if (!isZero(body[f]) && !(f === 'Healthcheck' && strings('Healthcheck.Test', obj('Healthcheck', body.Healthcheck).Test)[0] === 'NONE')) throw new ApiError('invalid-argument', `${f}: berth does not support it`);
  for (const f of UNSUPPORTED_HOST) if (!isZero(host[f])) throw new ApiError('invalid-argument', `HostConfig.${f}: berth does not support it`);
  for (const [f, ok] of Object.entries(DEFAULT_MODES)) if (!ok.includes((host[f] as string | undefined) ?? '')) throw new ApiError('invalid-argument', `HostConfig.${f} ${JSON.stringify(host[f])}: berth does not support it`);
  const log = obj('HostConfig.LogConfig', host.LogConfig);
  if (!['', 'json-file', 'k8s-file', undefined].includes(log.Type as string | undefined) || !isZero(log.Config)) throw new ApiError('invalid-argument', `HostConfig.LogConfig: berth logs to its own file (k8s-file), without options`);
  if (host.MemorySwap !== undefined && host.MemorySwap !== null && host.MemorySwap !== 0 && host.MemorySwap !== -1 && host.MemorySwap !== ((host.Memory as number | undefined) ?? 0) * 2) throw new ApiError('invalid-argument', 'HostConfig.MemorySwap: berth does not support it');
  if (host.MemorySwappiness !== undefined && host.MemorySwappiness !== null && host.MemorySwappiness !== -1) throw new ApiError('invalid-argument', 'HostConfig.MemorySwappiness: berth does not support it');

  const restart = obj('HostConfig.RestartPolicy', host.RestartPolicy);
  const restartName = str('HostConfig.RestartPolicy.Name', restart.Name) ?? 'no';
  const retries = num('HostConfig.RestartPolicy.MaximumRetryCount', restart.MaximumRetryCount);
  const network = str('HostConfig.NetworkMode', host.NetworkMode);
  const endpoint = endpointOf(body, network === 'default' ? undefined : network);
  const anonymous = Object.keys(obj('Volumes', body.Volumes));
  const tmpfs = Object.entries(stringMap('HostConfig.Tmpfs', host.Tmpfs)).map(([path, opts]) => (opts ? `${path}:${opts}` : path));
  const nanoCpus = num('HostConfig.NanoCpus', host.NanoCpus);
  const pids = num('HostConfig.PidsLimit', host.PidsLimit);
  const autoRemove = host.AutoRemove === true;
  const policy = parseRestartPolicy(retries ? `${restartName}:${retries}` : restartName || 'no');
  if (autoRemove && policy.name !== 'no') throw new ApiError('invalid-argument', 'conflicting options: HostConfig.RestartPolicy and HostConfig.AutoRemove');
  const flags = {
    volumes: strings('HostConfig.Binds', host.Binds),
    mounts: (Array.isArray(host.Mounts) ? host.Mounts : []).map((m, i) => mountText(obj(`HostConfig.Mounts[${i}]`, m), i)),
    tmpfs,
  };
  // Config.Volumes names mount points: those no bind, mount or tmpfs covers are anonymous volumes (compose lists both).
  const explicit = parseMountFlags(flags);
  const uncovered = anonymous.filter((path) => !explicit.some((m) => m.target === path.replace(/(.)\/+$/, '$1')));
  const mounts = uncovered.length ? parseMountFlags({ ...flags, volumes: [...flags.volumes, ...uncovered] }) : explicit;
  const entrypoint = body.Entrypoint === undefined || body.Entrypoint === null ? undefined : strings('Entrypoint', body.Entrypoint);
  const openStdin = body.OpenStdin === true;
  const attachStdin = body.AttachStdin === true || body.StdinOnce === true;
  return {
    attachStdin,
    options: {
      image,
      name,
      command: strings('Cmd', body.Cmd),
      entrypoint,
      env: strings('Env', body.Env),
      workdir: str('WorkingDir', body.WorkingDir),
      user: str('User', body.User),
      hostname: str('Hostname', body.Hostname) ?? '',
      labels: stringMap('Labels', body.Labels),
      stopSignal: str('StopSignal', body.StopSignal),
      terminal: body.Tty === true,
      interactive: openStdin,
      // docker's StdinOnce: the container's stdin ends with its first attached client's.
      detach: !(openStdin && body.StdinOnce === true),
      readOnly: host.ReadonlyRootfs === true,
      memory: num('HostConfig.Memory', host.Memory),
      cpus: nanoCpus === undefined ? undefined : nanoCpus / 1e9,
      pidsLimit: pids === undefined ? undefined : pids,
      init: host.Init === true ? initBinary() : undefined,
      isolation: 'default',
      rm: autoRemove,
      restart: policy,
      monitored: true,
      mounts,
      ...hostAndSecurity(host),
      network: networkRequest({
        network: network === 'default' ? undefined : network,
        publish: publishTexts(obj('HostConfig.PortBindings', host.PortBindings)),
        publishAll: host.PublishAllPorts === true,
        dns: strings('HostConfig.Dns', host.Dns),
        addHosts: strings('HostConfig.ExtraHosts', host.ExtraHosts),
        ip: endpoint.ip,
        mac: str('MacAddress', body.MacAddress),
        aliases: endpoint.aliases,
      }),
    },
  };
}
