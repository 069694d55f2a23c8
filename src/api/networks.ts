// Networks and volumes through the API: docker network and docker volume, and what compose asks
// for (networks by label, a volume per service), over the engine's network manager and volume
// store, the same ones as `berth network` and `berth volume`.
import { DEFAULT_NETWORK, inspectNetwork, type NetworkManager, type NetworkRecord } from '../engine/network/index.js';
import type { VolumeRecord } from '../engine/volumes.js';
import { ApiError, filtersParam, labelMatches, readJson, sendEmpty, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';

type Json = Record<string, unknown>;

function labelsOf(where: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) throw new ApiError('invalid-argument', `${where}: must be an object of strings`);
  return v as Record<string, string>;
}

/** `label=k` or `label=k=v` against a thing's labels. */
function networkFilter(filters: [string, string][]): (n: NetworkRecord) => boolean {
  const tests = filters.map(([key, value]): ((n: NetworkRecord) => boolean) => {
    switch (key) {
      case 'name':
        return (n) => n.name.includes(value);
      case 'id':
        return (n) => n.id.startsWith(value);
      case 'label':
        return (n) => labelMatches(n.labels ?? {}, value);
      case 'driver':
        return (n) => n.driver === value;
      case 'type':
        return (n) => (value === 'builtin') === (n.name === 'bridge');
      case 'scope':
        return () => value === 'local';
      default:
        throw new ApiError('invalid-argument', `invalid filter '${key}' (berth has name, id, label, driver, type, scope)`);
    }
  });
  return (n) => tests.every((t) => t(n));
}

/**
 * A network as dockerd shows it: a user network's Options are the ones it was created with (none
 * in berth), which compose compares with its file; `berth network inspect` also names the bridge.
 */
function apiNetwork(manager: NetworkManager, n: NetworkRecord): Json {
  const shown = inspectNetwork(manager, n);
  return n.name === DEFAULT_NETWORK ? shown : { ...shown, Options: {} };
}

async function listNetworks(r: ApiRequest): Promise<void> {
  const manager = r.service.engine.network;
  const matches = networkFilter(filtersParam(r.query));
  sendJson(r, 200, (await manager.listNetworks()).filter(matches).map((n) => apiNetwork(manager, n)));
}

async function inspectOne(r: ApiRequest): Promise<void> {
  const manager = r.service.engine.network;
  sendJson(r, 200, apiNetwork(manager, await manager.findNetwork(r.params[0])));
}

async function createNetwork(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  if (typeof body.Name !== 'string' || body.Name === '') throw new ApiError('invalid-argument', 'Name: a network needs a name');
  const driver = body.Driver ?? 'bridge';
  if (driver !== 'bridge' && driver !== '') throw new ApiError('invalid-argument', `Driver ${JSON.stringify(driver)}: berth has only bridge`);
  // Attachable is swarm's word for what every local bridge network is (compose asks for it): accepted.
  for (const f of ['Internal', 'Ingress', 'EnableIPv6', 'ConfigOnly']) if (body[f] === true) throw new ApiError('invalid-argument', `${f}: berth does not support it`);
  const options = body.Options && typeof body.Options === 'object' ? Object.keys(body.Options) : [];
  if (options.length) throw new ApiError('invalid-argument', `Options ${options.join(', ')}: berth does not support them`);
  const ipam = (body.IPAM ?? {}) as Json;
  const configs = Array.isArray(ipam.Config) ? (ipam.Config as Json[]) : [];
  if (configs.length > 1) throw new ApiError('invalid-argument', 'IPAM.Config: berth gives a network one subnet');
  const subnet = configs[0]?.Subnet;
  const gateway = configs[0]?.Gateway;
  if ((subnet !== undefined && typeof subnet !== 'string') || (gateway !== undefined && typeof gateway !== 'string')) throw new ApiError('invalid-argument', 'IPAM.Config: Subnet and Gateway are strings');
  if (body.CheckDuplicate === false) throw new ApiError('invalid-argument', 'CheckDuplicate false: berth never makes two networks of one name');
  const network = await r.service.engine.network.createNetwork({ name: body.Name, subnet, gateway, labels: labelsOf('Labels', body.Labels) });
  sendJson(r, 201, { Id: network.id, Warning: '' });
}

async function removeNetwork(r: ApiRequest): Promise<void> {
  await r.service.engine.network.removeNetwork(r.params[0]);
  sendEmpty(r, 204);
}

async function pruneNetworks(r: ApiRequest): Promise<void> {
  if (filtersParam(r.query).length) throw new ApiError('invalid-argument', 'network prune: berth takes no filters');
  sendJson(r, 200, { NetworksDeleted: await r.service.engine.network.pruneNetworks() });
}

async function connect(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  if (typeof body.Container !== 'string') throw new ApiError('invalid-argument', 'Container: the container to connect is required');
  const endpoint = (body.EndpointConfig ?? {}) as Json;
  for (const [k, v] of Object.entries(endpoint)) {
    if (k === 'Aliases') continue;
    if (v !== null && v !== '' && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && Object.keys(v as object).length === 0)) throw new ApiError('invalid-argument', `EndpointConfig.${k}: berth does not support it on connect`);
  }
  const aliases = endpoint.Aliases ?? [];
  if (!Array.isArray(aliases) || !aliases.every((a) => typeof a === 'string')) throw new ApiError('invalid-argument', 'EndpointConfig.Aliases: must be a list of strings');
  await r.service.engine.network.connect(r.params[0], body.Container, undefined, aliases);
  sendEmpty(r, 200);
}

async function disconnect(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  if (typeof body.Container !== 'string') throw new ApiError('invalid-argument', 'Container: the container to disconnect is required');
  await r.service.engine.network.disconnect(r.params[0], body.Container);
  sendEmpty(r, 200);
}

/** A volume as the API shows it. */
export function volumeOf(v: VolumeRecord): Json {
  return { ...v, Options: v.Options ?? {} };
}

async function listVolumes(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const containers = engine.containers.list();
  const tests = filtersParam(r.query).map(([key, value]): ((v: VolumeRecord) => boolean) => {
    switch (key) {
      case 'name':
        return (v) => v.Name.includes(value);
      case 'label':
        return (v) => labelMatches(v.Labels, value);
      case 'driver':
        return (v) => v.Driver === value;
      case 'dangling':
        return (v) => (engine.volumes.usersOf(v.Name, containers).length === 0) === (value === 'true' || value === '1');
      default:
        throw new ApiError('invalid-argument', `invalid filter '${key}' (berth has name, label, driver, dangling)`);
    }
  });
  sendJson(r, 200, { Volumes: engine.volumes.list().filter((v) => tests.every((t) => t(v))).map(volumeOf), Warnings: [] });
}

async function createVolume(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  const driver = body.Driver ?? 'local';
  if (driver !== 'local' && driver !== '') throw new ApiError('invalid-argument', `Driver ${JSON.stringify(driver)}: berth has only local`);
  const opts = body.DriverOpts && typeof body.DriverOpts === 'object' ? Object.keys(body.DriverOpts) : [];
  if (opts.length) throw new ApiError('invalid-argument', `DriverOpts ${opts.join(', ')}: berth does not support them`);
  if (body.Name !== undefined && body.Name !== null && typeof body.Name !== 'string') throw new ApiError('invalid-argument', 'Name: must be a string');
  const { volume } = r.service.engine.volumes.create((body.Name as string | undefined) || undefined, labelsOf('Labels', body.Labels));
  sendJson(r, 201, volumeOf(volume));
}

async function inspectVolume(r: ApiRequest): Promise<void> {
  sendJson(r, 200, volumeOf(r.service.engine.volumes.get(r.params[0])));
}

async function removeVolume(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  if (r.query.get('force') && !engine.volumes.find(r.params[0])) return sendEmpty(r, 204);
  engine.volumes.remove(r.params[0], engine.containers.list());
  sendEmpty(r, 204);
}

async function pruneVolumes(r: ApiRequest): Promise<void> {
  const filters = filtersParam(r.query);
  const all = filters.some(([k, v]) => k === 'all' && (v === 'true' || v === '1'));
  if (filters.some(([k]) => k !== 'all')) throw new ApiError('invalid-argument', 'volume prune: berth takes only the all filter');
  const { removed, reclaimed } = r.service.engine.volumes.prune(r.service.engine.containers.list(), all);
  sendJson(r, 200, { VolumesDeleted: removed, SpaceReclaimed: reclaimed });
}

export const networkRoutes: Route[] = [
  { method: 'GET', path: '/networks', handler: listNetworks },
  { method: 'POST', path: '/networks/create', handler: createNetwork },
  { method: 'POST', path: '/networks/prune', handler: pruneNetworks },
  { method: 'GET', path: '/networks/{id}', handler: inspectOne },
  { method: 'DELETE', path: '/networks/{id}', handler: removeNetwork },
  { method: 'POST', path: '/networks/{id}/connect', handler: connect },
  { method: 'POST', path: '/networks/{id}/disconnect', handler: disconnect },
  { method: 'GET', path: '/volumes', handler: listVolumes },
  { method: 'POST', path: '/volumes/create', handler: createVolume },
  { method: 'POST', path: '/volumes/prune', handler: pruneVolumes },
  { method: 'GET', path: '/volumes/{name}', handler: inspectVolume },
  { method: 'DELETE', path: '/volumes/{name}', handler: removeVolume },
];
