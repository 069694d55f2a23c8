// berth's networking, as the engine and the CLI use it. See manager.ts for the calls the engine
// makes at create, start, stop and removal; options.ts for `berth run`'s flags.
import type { Spec } from '../../runtime/spec.js';
import type { NamespaceChoice } from './manager.js';

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
