// Interfaces with iproute2: the container's network namespace (`ip netns add`, a file under
// /run/netns that keeps it alive with no process in it), the network's bridge, and a veth pair
// from the bridge into the namespace. What exists is read from /sys/class/net and /run/netns, so
// that teardown deletes exactly what is there, whatever point a crash stopped at.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HostCommand } from './host-commands.js';
import { readdirIfExists, readFileIfExists } from '../../fs/if-exists.js';

/** Where `ip netns` keeps its namespace files (iproute2's NETNS_RUN_DIR). */
export const NETNS_DIR = '/run/netns';

export function netnsName(containerId: string): string {
  return `berth-${containerId.slice(0, 12)}`;
}

export function netnsPath(containerId: string): string {
  return join(NETNS_DIR, netnsName(containerId));
}

/** The host end of a container's veth: 15 characters at most (IFNAMSIZ). */
export function vethName(containerId: string, index: number): string {
  return `veth${containerId.slice(0, 9)}${index.toString(36)}`;
}

export function linkExists(name: string): boolean {
  return existsSync(join('/sys/class/net', name));
}

export function netnsExists(name: string): boolean {
  return existsSync(join(NETNS_DIR, name));
}

/** The interfaces enslaved to a bridge. */
export function bridgePorts(bridge: string): string[] {
  return readdirIfExists(join('/sys/class/net', bridge, 'brif')); // no such bridge: no ports
}

/** The bridge's alias: berth marks its bridges with the root they belong to. */
export function linkAlias(name: string): string {
  return (readFileIfExists(join('/sys/class/net', name, 'ifalias')) ?? '').trim(); // no such link: no alias
}

/** `berth:<root>`; a root whose path would not read safely in an `ip` batch line is named by its hash. */
export function ownerAlias(root: string): string {
  return /^[\w./-]+$/.test(root) ? `berth:${root}` : `berth:sha256-${createHash('sha256').update(root).digest('hex').slice(0, 16)}`;
}

export function ipBatch(lines: string[], netns?: string): HostCommand {
  return { argv: ['ip', ...(netns ? ['-n', netns] : []), '-batch', '-'], input: lines.join('\n') + '\n' };
}

export function bridgeLines(bridge: string, gatewayCidr: string, alias: string): string[] {
  return [`link add ${bridge} type bridge`, `link set ${bridge} alias "${alias}"`, `addr add ${gatewayCidr} dev ${bridge}`, `link set ${bridge} up`];
}

/**
 * The veth pair, its container end made straight inside the namespace, its host end on the bridge
 * in hairpin mode (so that a container's trip to its own published port can come back to it).
 */
export function vethLines(veth: string, netns: string, ifname: string, bridge: string, mac: string): string[] {
  return [`link add ${veth} type veth peer name ${ifname} address ${mac} netns ${netns}`, `link set ${veth} master ${bridge}`, `link set ${veth} type bridge_slave hairpin on`, `link set ${veth} up`];
}

/** Inside the namespace: lo, the address, and (for the first network) the default route. */
export function insideLines(ifname: string, cidr: string, gateway: string | null): string[] {
  return ['link set lo up', `addr add ${cidr} dev ${ifname}`, `link set ${ifname} up`, ...(gateway ? [`route add default via ${gateway}`] : [])];
}
