// berth's packet filtering and NAT: one nftables table, `ip berth`, of its own (iptables' tables
// and other engines' are never touched). Its chains are fixed; what changes per network and per
// container are set and map elements, which are added and deleted by key — so a container's
// teardown deletes exactly its own, and nothing needs a rule handle.
//
//   bridges       the berth bridges up now (ifname)
//   same_bridge   "br" . "br" for each: traffic between two different berth networks is dropped
//   subnets       their subnets: outbound traffic from them is masqueraded
//   published     proto . port → container ip . port, on every host address
//   published_on  host ip . proto . port → container ip . port, on one host address
//
// DNAT happens in prerouting (traffic from outside and from containers) and output (the host's own
// traffic, 127.0.0.1 included: the bridge has route_localnet on, and such packets are
// masqueraded so that replies come back; so are containers' trips to their own published ports).
// When the last bridge goes, the table goes.
import type { HostCommand } from './host-commands.js';
import type { PortMapping } from './options.js';

export const TABLE = 'berth';
const T = `ip ${TABLE}`;

/** The table, its sets and chains, and the chains' rules (flushed and written again: idempotent, atomic). */
function baseRuleset(): string[] {
  const dnat = ['fib daddr type local dnat ip to ip daddr . meta l4proto . th dport map @published_on', 'fib daddr type local dnat ip to meta l4proto . th dport map @published'];
  const chain = (name: string, hook: string, rules: string[]) => [`add chain ${T} ${name} { ${hook}; policy accept; }`, `flush chain ${T} ${name}`, ...rules.map((r) => `add rule ${T} ${name} ${r}`)];
  return [
    `add table ${T}`,
    `add set ${T} bridges { type ifname; }`,
    `add set ${T} same_bridge { type ifname . ifname; }`,
    `add set ${T} subnets { type ipv4_addr; flags interval; }`,
    `add map ${T} published { type inet_proto . inet_service : ipv4_addr . inet_service; }`,
    `add map ${T} published_on { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }`,
    ...chain('prerouting', 'type nat hook prerouting priority dstnat', dnat),
    ...chain('output', 'type nat hook output priority -100', dnat),
    ...chain('postrouting', 'type nat hook postrouting priority srcnat', [
      'ip saddr @subnets oifname != @bridges masquerade',
      'ip saddr 127.0.0.0/8 oifname @bridges masquerade',
      // A container reaching its own published port through a host address: the packet goes back
      // out of the port it came in by (hairpin), and the answer must come back through the host.
      'ip saddr @subnets oifname @bridges ct status dnat masquerade',
    ]),
    ...chain('forward', 'type filter hook forward priority filter', ['iifname @bridges oifname @bridges iifname . oifname != @same_bridge drop']),
  ];
}

function portKey(p: PortMapping): string {
  return p.hostIp ? `${p.hostIp} . ${p.protocol} . ${p.hostPort}` : `${p.protocol} . ${p.hostPort}`;
}

function networkElements(bridge: string, subnet: string): string[] {
  return [`add element ${T} bridges { "${bridge}" }`, `add element ${T} same_bridge { "${bridge}" . "${bridge}" }`, `add element ${T} subnets { ${subnet} }`];
}

/** One transaction: the table as it must be, the networks' elements, the container's ports. */
export function attachRuleset(networks: { bridge: string; subnet: string }[], containerIp: string, ports: PortMapping[]): HostCommand {
  const lines = [...baseRuleset(), ...networks.flatMap((n) => networkElements(n.bridge, n.subnet))];
  // `create`, not `add`: a key another container holds fails the whole transaction.
  for (const p of ports) lines.push(`create element ${T} ${p.hostIp ? 'published_on' : 'published'} { ${portKey(p)} : ${containerIp} . ${p.containerPort} }`);
  return { argv: ['nft', '-f', '-'], input: lines.join('\n') + '\n' };
}

/** What of the table exists now, read from `nft -j list table ip berth`. */
export interface TableState {
  bridges: string[];
  subnets: string[];
  /** Published ports with the container address they lead to. */
  ports: (PortMapping & { containerIp: string })[];
}

export const LIST_TABLE: HostCommand = { argv: ['nft', '-j', 'list', 'table', 'ip', TABLE] };

type Json = Record<string, unknown>;

export function parseTable(json: string): TableState {
  const state: TableState = { bridges: [], subnets: [], ports: [] };
  for (const item of (JSON.parse(json) as { nftables: Json[] }).nftables) {
    const set = (item.set ?? item.map) as Json | undefined;
    if (!set) continue;
    const elems = (set.elem ?? []) as unknown[];
    if (set.name === 'bridges') state.bridges = elems.map(String);
    if (set.name === 'subnets') for (const e of elems) {
      const p = (e as { prefix?: { addr: string; len: number } }).prefix;
      state.subnets.push(p ? `${p.addr}/${p.len}` : String(e));
    }
    if (set.name === 'published' || set.name === 'published_on') {
      for (const e of elems as [{ concat: (string | number)[] }, { concat: (string | number)[] }][]) {
        const key = e[0].concat;
        const [containerIp, containerPort] = e[1].concat;
        const [hostIp, protocol, hostPort] = set.name === 'published' ? ['', ...key] : key;
        state.ports.push({ hostIp: String(hostIp), protocol: protocol as PortMapping['protocol'], hostPort: Number(hostPort), containerPort: Number(containerPort), containerIp: String(containerIp) });
      }
    }
  }
  return state;
}

/**
 * The deletions for a container's teardown: its ports (found by its addresses, so that a crash
 * between the ruleset and the record loses nothing), and the elements of bridges that go with it;
 * the whole table when no bridge is left.
 */
export function detachRuleset(state: TableState, containerIps: string[], goneBridges: { bridge: string; subnet: string }[]): HostCommand | null {
  const remaining = state.bridges.filter((b) => !goneBridges.some((g) => g.bridge === b));
  if (remaining.length === 0) return { argv: ['nft', 'delete', 'table', 'ip', TABLE] };
  const lines: string[] = [];
  for (const p of state.ports) if (containerIps.includes(p.containerIp)) lines.push(`delete element ${T} ${p.hostIp ? 'published_on' : 'published'} { ${portKey(p)} }`);
  for (const g of goneBridges) {
    if (!state.bridges.includes(g.bridge)) continue;
    lines.push(`delete element ${T} bridges { "${g.bridge}" }`, `delete element ${T} same_bridge { "${g.bridge}" . "${g.bridge}" }`);
    if (state.subnets.includes(g.subnet)) lines.push(`delete element ${T} subnets { ${g.subnet} }`);
  }
  return lines.length ? { argv: ['nft', '-f', '-'], input: lines.join('\n') + '\n' } : null;
}
