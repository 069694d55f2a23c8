// berth's networking, as the engine and the CLI use it. See manager.ts for the calls the engine
// makes at create, start, stop and removal; options.ts for `berth run`'s flags.
import type { Spec } from '../../oci/runtime-spec.js';
import type { ContainerNetworkRecord, NamespaceChoice, NetworkManager } from './manager.js';
import type { NetworkRecord } from './networks.js';
import { DEFAULT_NETWORK } from './options.js';

export { NetworkManager, type Attachment, type ContainerNetworkRecord, type Endpoint, type NamespaceChoice } from './manager.js';
export { NetworkError, type NetworkRecord } from './networks.js';
export { networkRequest, parsePublish, parseAddHost, parseNetworkMode, exposedPorts, NetworkOptionError, DEFAULT_NETWORK, type NetworkRequest, type PortMapping } from './options.js';
export { PortInUseError } from './host-ports.js';

/** config.json's network namespace as the choice says: a file to join, the host's (none listed), or a new one. */
export function applyNetworkNamespace(spec: Spec, choice: NamespaceChoice): void {
  const namespaces = spec.linux?.namespaces;
  if (!namespaces) return;
  const others = namespaces.filter((ns) => ns.type !== 'network');
  if (choice.kind === 'host') spec.linux!.namespaces = others;
  else if (choice.kind === 'join') spec.linux!.namespaces = [...others, { type: 'network', path: choice.path }];
}

/** docker inspect's NetworkSettings for the fields that exist (empty addresses when not running). */
export function networkSettings(rec: ContainerNetworkRecord | null): Record<string, unknown> {
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of rec?.request.ports ?? []) ports[`${p.containerPort}/${p.protocol}`] = null;
  for (const p of rec?.attachment?.ports ?? []) (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp || '0.0.0.0', HostPort: String(p.hostPort) });
  const networks: Record<string, unknown> = {};
  const mode = rec?.request.mode;
  for (const name of rec?.networks ?? []) {
    const e = rec?.attachment?.endpoints.find((x) => x.network === name);
    networks[name] = {
      Aliases: name === DEFAULT_NETWORK ? [] : rec?.request.aliases ?? [],
      NetworkID: e?.networkId ?? '',
      Gateway: e?.gateway ?? '',
      IPAddress: e?.ip ?? '',
      IPPrefixLen: e?.prefix ?? 0,
      MacAddress: e?.mac ?? '',
    };
  }
  if (mode && mode.kind !== 'bridge') networks[mode.kind === 'container' ? `container:${mode.container}` : mode.kind] = {};
  const first = rec?.attachment?.endpoints[0];
  return {
    SandboxKey: rec?.attachment ? `/run/netns/${rec.attachment.netns}` : '',
    Ports: ports,
    IPAddress: first?.ip ?? '',
    Gateway: first?.gateway ?? '',
    MacAddress: first?.mac ?? '',
    Networks: networks,
  };
}

/** A network in docker's `network inspect` shape, with the containers that have an address on it. */
export function inspectNetwork(manager: NetworkManager, n: NetworkRecord): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const { container, endpoint } of manager.endpointsOn(n)) {
    containers[container.id] = { Name: container.name, EndpointID: '', MacAddress: endpoint.mac, IPv4Address: `${endpoint.ip}/${endpoint.prefix}`, IPv6Address: '', Interface: endpoint.veth };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: { 'com.docker.network.bridge.name': n.bridge },
    Labels: n.labels ?? {},
  };
}
