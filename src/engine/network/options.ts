// `berth run`'s network flags, parsed and checked before anything exists: --network, -p, -P (with
// the image's EXPOSE), --dns, --add-host, --ip, --mac-address, --network-alias. Each error is one
// line that names the flag and what was wrong.
import { AddressError, parseIPv4 } from './ipv4.js';
import { BerthError, type ErrorKind } from '../../errors.js';

export type Protocol = 'tcp' | 'udp';

/** A published port: `hostIp` '' is every address of the host; `hostPort` 0 is "pick a free one". */
export interface PortMapping {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** How a container is networked. */
export type NetworkMode =
  | { kind: 'none' } // its own namespace with lo only
  | { kind: 'host' } // the host's namespace
  | { kind: 'bridge'; network: string } // `bridge` (the default network) or a user network by name
  | { kind: 'container'; container: string }; // another container's namespace

/** Everything a container asks of the network, as stored at create and used at each start. */
export interface NetworkRequest {
  mode: NetworkMode;
  ports: PortMapping[];
  /** --ip: a fixed address (user networks only, as docker). */
  ip?: string;
  mac?: string;
  dns: string[];
  /** --add-host NAME:IP, as [name, ip]. */
  extraHosts: [string, string][];
  /** --network-alias: more names the container answers to on its user network. */
  aliases: string[];
  /** -P: also publish every port the image EXPOSEs, each on a random host port (expanded at create). */
  publishAll?: boolean;
}

export class NetworkOptionError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'NetworkOptionError';
}

/** The name of the default network, as docker's. */
export const DEFAULT_NETWORK = 'bridge';

export function parseNetworkMode(value: string | undefined): NetworkMode {
  if (value === undefined || value === '' || value === 'default' || value === DEFAULT_NETWORK) return { kind: 'bridge', network: DEFAULT_NETWORK };
  if (value === 'none') return { kind: 'none' };
  if (value === 'host') return { kind: 'host' };
  if (value.startsWith('container:')) {
    const container = value.slice('container:'.length);
    if (!container) throw new NetworkOptionError('--network container:NAME|ID: the container is missing');
    return { kind: 'container', container };
  }
  return { kind: 'bridge', network: value };
}

function port(text: string, what: string, spec: string, allowZero = false): number {
  if (/^\d+-\d+$/.test(text)) throw new NetworkOptionError(`-p ${spec}: port ranges are not supported; publish each port with its own -p`);
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) throw new NetworkOptionError(`-p ${spec}: ${what} ${JSON.stringify(text)} is not a port number (1-65535)`);
  return n;
}

/**
 * docker's -p forms: `CPORT`, `HPORT:CPORT`, `IP:HPORT:CPORT`, `IP::CPORT` (random host port), each
 * with an optional `/tcp` or `/udp`.
 */
export function parsePublish(spec: string): PortMapping {
  let body = spec;
  let protocol: Protocol = 'tcp';
  const slash = spec.lastIndexOf('/');
  if (slash >= 0) {
    const p = spec.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp') throw new NetworkOptionError(`-p ${spec}: protocol ${JSON.stringify(p)}: use tcp or udp`);
    protocol = p;
    body = spec.slice(0, slash);
  }
  const parts = body.split(':');
  let hostIp = '';
  let hostPort = 0;
  let containerPort: number;
  if (parts.length === 1) {
    containerPort = port(parts[0], 'container port', spec);
  } else if (parts.length === 2) {
    hostPort = port(parts[0], 'host port', spec);
    containerPort = port(parts[1], 'container port', spec);
  } else if (parts.length === 3) {
    hostIp = parts[0].replace(/^\[|\]$/g, '');
    try {
      parseIPv4(hostIp);
    } catch {
      throw new NetworkOptionError(`-p ${spec}: host address ${JSON.stringify(hostIp)} is not an IPv4 address`);
    }
    if (hostIp === '0.0.0.0') hostIp = '';
    hostPort = parts[1] === '' ? 0 : port(parts[1], 'host port', spec);
    containerPort = port(parts[2], 'container port', spec);
  } else {
    throw new NetworkOptionError(`-p ${spec}: use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|udp]`);
  }
  return { hostIp, hostPort, containerPort, protocol };
}

/** -P: every port the image EXPOSEs (`80/tcp`, `53/udp`, `8080`), each on a random host port. */
export function exposedPorts(exposed: Record<string, unknown> | undefined): PortMapping[] {
  return Object.keys(exposed ?? {}).map((key) => {
    const m = /^(\d{1,5})(?:\/(tcp|udp))?$/i.exec(key);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw new NetworkOptionError(`-P: the image exposes ${JSON.stringify(key)}, which is not PORT[/tcp|udp]`);
    return { hostIp: '', hostPort: 0, containerPort: Number(m[1]), protocol: (m[2]?.toLowerCase() ?? 'tcp') as Protocol };
  });
}

function checkAddress(flag: string, value: string): string {
  try {
    parseIPv4(value);
  } catch (err) {
    throw new NetworkOptionError(`${flag} ${value}: ${(err as AddressError).message}`);
  }
  return value;
}

/** --add-host NAME:IP (docker also takes NAME=IP). */
export function parseAddHost(value: string): [string, string] {
  const m = /^([^:=\s]+)[:=](.+)$/.exec(value);
  if (!m) throw new NetworkOptionError(`--add-host ${value}: use NAME:IP`);
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(m[1])) throw new NetworkOptionError(`--add-host ${value}: ${JSON.stringify(m[1])} is not a host name`);
  return [m[1], checkAddress('--add-host', m[2])];
}

const MAC_PATTERN = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The flags' values (as the CLI collects them) → a checked request. Nothing is made here. */
export function networkRequest(flags: {
  network?: string;
  publish?: string[];
  publishAll?: boolean;
  ip?: string;
  mac?: string;
  dns?: string[];
  addHosts?: string[];
  aliases?: string[];
}): NetworkRequest {
  const mode = parseNetworkMode(flags.network);
  const ports = (flags.publish ?? []).map(parsePublish);
  const ownNamespace = mode.kind === 'bridge';
  if ((ports.length || flags.publishAll) && !ownNamespace) throw new NetworkOptionError(`-p/-P: ports cannot be published with --network ${flags.network} (only on a bridge network)`);
  if (flags.ip !== undefined) {
    checkAddress('--ip', flags.ip);
    if (mode.kind !== 'bridge' || mode.network === DEFAULT_NETWORK) throw new NetworkOptionError('--ip: a fixed address needs a user network (berth network create), as in docker');
  }
  if (flags.mac !== undefined && !MAC_PATTERN.test(flags.mac)) throw new NetworkOptionError(`--mac-address ${flags.mac}: use six hex pairs like 02:42:ac:11:00:02`);
  if (flags.mac !== undefined && (parseInt(flags.mac.slice(0, 2), 16) & 1)) throw new NetworkOptionError(`--mac-address ${flags.mac}: a multicast address cannot be a container's`);
  if (flags.mac !== undefined && !ownNamespace) throw new NetworkOptionError(`--mac-address: needs a bridge network, not --network ${flags.network}`);
  if ((flags.aliases ?? []).length && (mode.kind !== 'bridge' || mode.network === DEFAULT_NETWORK)) throw new NetworkOptionError('--network-alias: aliases need a user network, as in docker');
  for (const a of flags.aliases ?? []) if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(a)) throw new NetworkOptionError(`--network-alias ${a}: not a host name`);
  const dns = (flags.dns ?? []).map((d) => checkAddress('--dns', d));
  if (dns.length && mode.kind === 'container') throw new NetworkOptionError('--dns: a container that joins another\'s network uses that one\'s resolver');
  return {
    mode,
    ports,
    ip: flags.ip,
    mac: flags.mac?.toLowerCase(),
    dns,
    extraHosts: (flags.addHosts ?? []).map(parseAddHost),
    aliases: flags.aliases ?? [],
    publishAll: flags.publishAll,
  };
}

/** The request's ports with -P's added: the image's EXPOSEd ports not already published by -p. */
export function withExposedPorts(request: NetworkRequest, exposed: Record<string, unknown> | undefined): NetworkRequest {
  if (!request.publishAll) return request;
  const ports = [...request.ports];
  for (const p of exposedPorts(exposed)) {
    if (!ports.some((q) => q.containerPort === p.containerPort && q.protocol === p.protocol)) ports.push(p);
  }
  return { ...request, ports, publishAll: false };
}
