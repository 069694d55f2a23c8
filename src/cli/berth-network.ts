// berth's network verbs (network create, ls, inspect, rm, prune, connect, disconnect; port) and
// `berth run`'s network flags, with docker's names and output.
import { networkRequest, type NetworkRecord, type NetworkRequest, type PortMapping } from '../engine/network/index.js';
import { bool, list, parseArgs, str, UsageError, type FlagSpec, type Parsed } from './args.js';
import type { Command } from './command.js';
import { table } from './format.js';

export const RUN_NETWORK_FLAGS: FlagSpec[] = [
  { name: 'network' },
  { name: 'net' },
  { name: 'publish', short: 'p', repeatable: true },
  { name: 'publish-all', short: 'P', boolean: true },
  { name: 'dns', repeatable: true },
  { name: 'add-host', repeatable: true },
  { name: 'ip' },
  { name: 'mac-address' },
  { name: 'network-alias', repeatable: true },
];

/** `berth run`'s network flags as a request; the default is the `bridge` network, as docker's. */
export function runNetworkRequest(p: Parsed): NetworkRequest {
  return networkRequest({
    network: str(p, 'network') ?? str(p, 'net'),
    publish: list(p, 'publish'),
    publishAll: bool(p, 'publish-all'),
    dns: list(p, 'dns'),
    addHosts: list(p, 'add-host'),
    ip: str(p, 'ip'),
    mac: str(p, 'mac-address'),
    aliases: list(p, 'network-alias'),
  });
}

/** As `docker port` prints a mapping: `80/tcp -> 0.0.0.0:8080`. */
export function formatPort(p: PortMapping): string {
  return `${p.containerPort}/${p.protocol} -> ${p.hostIp || '0.0.0.0'}:${p.hostPort}`;
}

/** As `docker ps` shows them in its PORTS column: `0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp`. */
export function portsColumn(ports: PortMapping[]): string {
  return ports.map((p) => `${p.hostIp || '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');
}

const explainFlag = { name: 'explain', boolean: true };
function explainOf(p: Parsed) {
  return bool(p, 'explain') ? (lines: string[]) => process.stderr.write(lines.join('\n') + '\n') : undefined;
}

export const networkCommands: Record<string, Command> = {
  async 'network create'({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'subnet' }, { name: 'gateway' }, { name: 'driver', short: 'd' }]);
    const [name, ...rest] = p.positionals;
    if (!name || rest.length) throw new UsageError('network create: exactly one network name is required');
    const driver = str(p, 'driver') ?? 'bridge';
    if (driver !== 'bridge') throw new UsageError(`network create --driver ${driver}: only bridge is supported`);
    const network = await engine.network.createNetwork({ name, subnet: str(p, 'subnet'), gateway: str(p, 'gateway') });
    process.stdout.write(`${network.id}\n`);
    return 0;
  },

  async 'network ls'({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'quiet', short: 'q', boolean: true }, { name: 'no-trunc', boolean: true }]);
    const networks = await engine.network.listNetworks();
    const id = (n: NetworkRecord) => (bool(p, 'no-trunc') ? n.id : n.id.slice(0, 12));
    if (bool(p, 'quiet')) process.stdout.write(networks.map((n) => id(n) + '\n').join(''));
    else process.stdout.write(table([['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'GATEWAY'], ...networks.map((n) => [id(n), n.name, n.driver, n.subnet, n.gateway])]));
    return 0;
  },

  async 'network inspect'({ engine }, argv) {
    const refs = parseArgs(argv, []).positionals;
    if (!refs.length) throw new UsageError('network inspect: at least one network is required');
    const out = [];
    for (const ref of refs) {
      const n = await engine.network.findNetwork(ref);
      const containers: Record<string, unknown> = {};
      for (const { container, endpoint } of engine.network.endpointsOn(n)) {
        containers[container.id] = { Name: container.name, MacAddress: endpoint.mac, IPv4Address: `${endpoint.ip}/${endpoint.prefix}`, Interface: endpoint.veth };
      }
      out.push({
        Name: n.name,
        Id: n.id,
        Created: n.created,
        Driver: n.driver,
        IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
        Options: { 'com.docker.network.bridge.name': n.bridge },
        Containers: containers,
      });
    }
    process.stdout.write(JSON.stringify(out, null, 4) + '\n');
    return 0;
  },

  async 'network rm'({ engine }, argv) {
    const refs = parseArgs(argv, []).positionals;
    if (!refs.length) throw new UsageError('network rm: at least one network is required');
    let failed = false;
    for (const ref of refs) {
      try {
        await engine.network.removeNetwork(ref);
        process.stdout.write(`${ref}\n`);
      } catch (err) {
        process.stderr.write(`berth: ${(err as Error).message}\n`);
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },

  async 'network prune'({ engine }, argv) {
    parseArgs(argv, [{ name: 'force', short: 'f', boolean: true }]);
    const removed = await engine.network.pruneNetworks();
    if (removed.length) process.stdout.write(`Deleted Networks:\n${removed.map((n) => n + '\n').join('')}`);
    return 0;
  },

  async 'network connect'({ engine }, argv) {
    const p = parseArgs(argv, [explainFlag]);
    const [network, container, ...rest] = p.positionals;
    if (!network || !container || rest.length) throw new UsageError('network connect: berth network connect NETWORK CONTAINER');
    await engine.network.connect(network, container, explainOf(p));
    return 0;
  },

  async 'network disconnect'({ engine }, argv) {
    const p = parseArgs(argv, [explainFlag, { name: 'force', short: 'f', boolean: true }]);
    const [network, container, ...rest] = p.positionals;
    if (!network || !container || rest.length) throw new UsageError('network disconnect: berth network disconnect NETWORK CONTAINER');
    await engine.network.disconnect(network, container, explainOf(p));
    return 0;
  },

  /** `berth port CONTAINER [PORT[/PROTO]]`: its published ports, as docker prints them. */
  async port({ engine }, argv) {
    const [ref, filter, ...rest] = parseArgs(argv, []).positionals;
    if (!ref || rest.length) throw new UsageError('port: berth port CONTAINER [PRIVATE_PORT[/PROTO]]');
    const rec = engine.network.record(engine.containers.find(ref).id);
    const ports = rec?.attachment?.ports ?? [];
    const wanted = filter && /^(\d+)(?:\/(tcp|udp))?$/.exec(filter);
    if (filter && !wanted) throw new UsageError(`port: ${filter}: use PORT or PORT/tcp|udp`);
    for (const p of ports) {
      if (wanted && (p.containerPort !== Number(wanted[1]) || p.protocol !== (wanted[2] ?? 'tcp'))) continue;
      process.stdout.write(wanted ? `${p.hostIp || '0.0.0.0'}:${p.hostPort}\n` : `${formatPort(p)}\n`);
    }
    return 0;
  },
};
