// Containers: list and inspect, in docker's shapes, from the same records as `berth ps`.
import type { ContainerRecord } from '../engine/containers.js';
import { containerFilter, statusText } from '../engine/container-list.js';
import { inspectContainer } from '../engine/inspect.js';
import { networkSettings } from '../engine/network/index.js';
import type { EngineService } from '../engine/service.js';
import { boolParam, filtersParam, intParam, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';

function seconds(iso: string | undefined): number {
  return iso ? Math.floor(Date.parse(iso) / 1000) : 0;
}

/** A container as `GET /containers/json` lists it. */
export function containerSummary(engine: EngineService, c: ContainerRecord): Record<string, unknown> {
  const net = engine.network.record(c.id);
  const settings = networkSettings(net);
  const ports = (net?.attachment?.ports ?? []).map((p) => ({ IP: p.hostIp || '0.0.0.0', PrivatePort: p.containerPort, PublicPort: p.hostPort, Type: p.protocol }));
  for (const p of net?.request.ports ?? []) if (!net?.attachment) ports.push({ IP: '', PrivatePort: p.containerPort, PublicPort: 0, Type: p.protocol });
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: c.image,
    ImageID: `sha256:${c.imageId.replace(/^sha256:/, '')}`,
    Command: c.command.join(' '),
    Created: seconds(c.created),
    Ports: ports.map(({ PublicPort, IP, ...rest }) => (PublicPort ? { IP, PublicPort, ...rest } : rest)),
    Labels: c.labels,
    State: c.state.status,
    Status: statusText(c),
    HostConfig: { NetworkMode: net?.request.mode.kind === 'bridge' || !net ? 'default' : net.request.mode.kind },
    NetworkSettings: { Networks: settings.Networks },
    Mounts: (c.mounts ?? []).map((m) => ({ Type: m.type, Name: m.name ?? '', Source: m.source, Destination: m.destination, RW: m.rw })),
  };
}

async function list(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const filters = filtersParam(r.query);
  const limit = intParam(r.query, 'limit');
  const all = boolParam(r.query, 'all') || (limit !== undefined && limit > 0);
  const matches = containerFilter(filters);
  let records = (await engine.list()).filter((c) => (all || c.state.status === 'running' || c.state.status === 'paused') && matches(c));
  if (limit !== undefined && limit > 0) records = records.slice(0, limit);
  sendJson(r, 200, records.map((c) => containerSummary(engine, c)));
}

async function inspect(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const record = await engine.inspect(r.params[0]);
  const shown = inspectContainer(record, engine.bundleSpec(record), engine.monitorPaths(record.id), networkSettings(engine.network.record(record.id))) as { HostConfig: Record<string, unknown> & { RestartPolicy: { Name: string } } };
  // As the API's definition (swagger.yaml) has them: no restart policy is "" (berth inspect says
  // "no", as docker's CLI shows it), and an empty list is a list (berth inspect says null, as dockerd).
  if (shown.HostConfig.RestartPolicy.Name === 'no') shown.HostConfig.RestartPolicy.Name = '';
  for (const key of ['CapAdd', 'CapDrop', 'SecurityOpt', 'DeviceCgroupRules', 'GroupAdd']) shown.HostConfig[key] ??= [];
  // Its log (conmon's k8s-file) is served by /logs as a json-file one is: the driver the API's
  // definition knows, which compose asks for before it shows a container's logs.
  shown.HostConfig.LogConfig = { Type: 'json-file', Config: {} };
  sendJson(r, 200, shown);
}

export const containerRoutes: Route[] = [
  { method: 'GET', path: '/containers/json', handler: list },
  { method: 'GET', path: '/containers/{id}/json', handler: inspect },
];
