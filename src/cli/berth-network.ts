// berth's network verbs (network create, ls, inspect, rm, prune, connect, disconnect; port) and
// `berth run`'s network flags, with docker's names and output.
import { inspectNetwork, networkRequest, type NetworkRecord, type NetworkRequest, type PortMapping } from '../engine/network/index.js';
import { bool, list, str, UsageError, type Parsed } from './args.js';
import type { CommandSpec, Flag } from './command.js';
import { eachOperand } from './operands.js';
import { table } from './format.js';
import { formatRows, renderTemplate } from './template.js';

export const RUN_NETWORK_FLAGS: Flag[] = [
  { name: 'network', value: 'NETWORK', help: 'Connect a container to a network: bridge (default), none, host, NAME or container:ID' },
  { name: 'net', value: 'NETWORK', help: '--network', hidden: true },
  { name: 'publish', short: 'p', repeatable: true, value: '[IP:][HPORT:]CPORT[/udp]', help: "Publish a container's port(s) to the host" },
  { name: 'publish-all', short: 'P', boolean: true, help: 'Publish all exposed ports to random ports' },
  { name: 'dns', repeatable: true, value: 'IP', help: 'Set custom DNS servers' },
  { name: 'add-host', repeatable: true, value: 'NAME:IP', help: 'Add a custom host-to-IP mapping' },
  { name: 'ip', value: 'IP', help: 'IPv4 address (e.g., 172.30.100.104)' },
  { name: 'mac-address', value: 'MAC', help: 'Container MAC address (e.g., 92:d0:c6:0a:29:33)' },
  { name: 'network-alias', repeatable: true, value: 'NAME', help: 'Add network-scoped alias for the container' },
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

const EXPLAIN_FLAG: Flag = { name: 'explain', boolean: true, help: 'Print each step (ip, nft, sysctl) as a shell line before it is taken' };
function explainOf(p: Parsed) {
  return bool(p, 'explain') ? (lines: string[]) => process.stderr.write(lines.join('\n') + '\n') : undefined;
}

export const networkCommands: CommandSpec[] = [
  {
    name: 'network create',
    section: 'networks',
    summary: 'Create a network (a bridge of its own, with a subnet from docker\'s pools)',
    usage: '[OPTIONS] NETWORK',
    flags: [
      { name: 'subnet', value: 'CIDR', help: 'Subnet in CIDR format that represents a network segment' },
      { name: 'gateway', value: 'IP', help: 'IPv4 Gateway for the subnet' },
      { name: 'driver', short: 'd', value: 'bridge', help: 'Driver to manage the Network (only bridge)' },
    ],
    async run({ engine }, p) {
      const [name, ...rest] = p.positionals;
      if (!name || rest.length) throw new UsageError('network create: exactly one network name is required');
      const driver = str(p, 'driver') ?? 'bridge';
      if (driver !== 'bridge') throw new UsageError(`network create --driver ${driver}: only bridge is supported`);
      const network = await engine.network.createNetwork({ name, subnet: str(p, 'subnet'), gateway: str(p, 'gateway') });
      process.stdout.write(`${network.id}\n`);
      return 0;
    },
  },

  {
    name: 'network ls',
    section: 'networks',
    summary: 'List networks',
    usage: '[OPTIONS]',
    flags: [
      { name: 'quiet', short: 'q', boolean: true, help: 'Only display network IDs' },
      { name: 'no-trunc', boolean: true, help: 'Do not truncate the output' },
      { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, a Go template ({{.Name}}), or table TEMPLATE' },
    ],
    async run({ engine }, p) {
      const networks = await engine.network.listNetworks();
      const id = (n: NetworkRecord) => (bool(p, 'no-trunc') ? n.id : n.id.slice(0, 12));
      const format = str(p, 'format');
      if (bool(p, 'quiet')) process.stdout.write(networks.map((n) => id(n) + '\n').join(''));
      else if (format) {
        const rows = networks.map((n) => ({ ID: id(n), Name: n.name, Driver: n.driver, Scope: 'local', IPv6: 'false', Internal: 'false', Labels: '', CreatedAt: '', Subnet: n.subnet, Gateway: n.gateway }));
        process.stdout.write(formatRows(format, rows, { ID: 'NETWORK ID' }));
      } else process.stdout.write(table([['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'GATEWAY'], ...networks.map((n) => [id(n), n.name, n.driver, n.subnet, n.gateway])]));
      return 0;
    },
  },

  {
    name: 'network inspect',
    section: 'networks',
    summary: 'Display detailed information on one or more networks',
    usage: '[OPTIONS] NETWORK [NETWORK...]',
    flags: [{ name: 'format', short: 'f', value: 'TEMPLATE', help: 'Format output using a Go template' }],
    async run({ engine }, p) {
      const refs = p.positionals;
      if (!refs.length) throw new UsageError('network inspect: at least one network is required');
      const out = [];
      for (const ref of refs) out.push(inspectNetwork(engine.network, await engine.network.findNetwork(ref)));
      const format = str(p, 'format');
      process.stdout.write(format ? out.map((n) => renderTemplate(format, n) + '\n').join('') : JSON.stringify(out, null, 4) + '\n');
      return 0;
    },
  },

  {
    name: 'network rm',
    section: 'networks',
    summary: 'Remove one or more networks',
    usage: 'NETWORK [NETWORK...]',
    flags: [],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'network rm', noun: 'network' }, async (ref) => void (await engine.network.removeNetwork(ref)));
    },
  },

  {
    name: 'network prune',
    section: 'networks',
    summary: 'Remove all unused networks',
    usage: '[OPTIONS]',
    flags: [{ name: 'force', short: 'f', boolean: true, help: 'Do not prompt for confirmation (berth does not prompt)' }],
    async run({ engine }) {
      const removed = await engine.network.pruneNetworks();
      if (removed.length) process.stdout.write(`Deleted Networks:\n${removed.map((n) => n + '\n').join('')}`);
      return 0;
    },
  },

  {
    name: 'network connect',
    section: 'networks',
    summary: 'Connect a container to a network',
    usage: '[OPTIONS] NETWORK CONTAINER',
    flags: [EXPLAIN_FLAG],
    async run({ engine }, p) {
      const [network, container, ...rest] = p.positionals;
      if (!network || !container || rest.length) throw new UsageError('network connect: berth network connect NETWORK CONTAINER');
      await engine.network.connect(network, container, explainOf(p));
      return 0;
    },
  },

  {
    name: 'network disconnect',
    section: 'networks',
    summary: 'Disconnect a container from a network',
    usage: '[OPTIONS] NETWORK CONTAINER',
    flags: [EXPLAIN_FLAG, { name: 'force', short: 'f', boolean: true, help: 'Force the container to disconnect from a network' }],
    async run({ engine }, p) {
      const [network, container, ...rest] = p.positionals;
      if (!network || !container || rest.length) throw new UsageError('network disconnect: berth network disconnect NETWORK CONTAINER');
      await engine.network.disconnect(network, container, explainOf(p));
      return 0;
    },
  },

  {
    name: 'port',
    aliases: ['container port'],
    section: 'networks',
    summary: 'List port mappings or a specific mapping for the container',
    usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]',
    flags: [],
    async run({ engine }, p) {
      const [ref, filter, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('port: berth port CONTAINER [PRIVATE_PORT[/PROTO]]');
      const rec = engine.network.record(engine.containers.find(ref).id);
      const ports = rec?.attachment?.ports ?? [];
      const wanted = filter && /^(\d+)(?:\/(tcp|udp))?$/.exec(filter);
      if (filter && !wanted) throw new UsageError(`port: ${filter}: use PORT or PORT/tcp|udp`);
      for (const m of ports) {
        if (wanted && (m.containerPort !== Number(wanted[1]) || m.protocol !== (wanted[2] ?? 'tcp'))) continue;
        process.stdout.write(wanted ? `${m.hostIp || '0.0.0.0'}:${m.hostPort}\n` : `${formatPort(m)}\n`);
      }
      return 0;
    },
  },
];
