// Images: list and inspect, in docker's shapes, from the same store as `berth images`.
import { familiarName, imageConfig, parseReference, type ImageRecord } from '../image/index.js';
import { inspectImage } from '../engine/inspect.js';
import { ApiError, boolParam, filtersParam, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';

/** A shell-like pattern of docker's reference filter (`busy*`, `busybox:1.*`) as a regex. */
function globRegex(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^$()|[\]\\{}]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')}$`);
}

function familiarNames(record: ImageRecord): string[] {
  return record.names.map((n) => familiarName(parseReference(n)));
}

function imageFilter(filters: [string, string][], labelsOf: (r: ImageRecord) => Record<string, string>): (r: ImageRecord) => boolean {
  const tests = filters.map(([key, value]): ((r: ImageRecord) => boolean) => {
    switch (key) {
      case 'reference': {
        const re = globRegex(value);
        const withTag = value.includes(':') && !value.endsWith(']');
        return (r) => familiarNames(r).some((n) => re.test(withTag ? n : n.replace(/:[^:/]+$/, '')));
      }
      case 'dangling':
        return (r) => (r.names.length === 0) === (value === 'true' || value === '1');
      case 'label': {
        const [k, ...v] = value.split('=');
        return (r) => k in labelsOf(r) && (v.length === 0 || labelsOf(r)[k] === v.join('='));
      }
      default:
        throw new ApiError('invalid-argument', `invalid filter '${key}' (berth has reference, dangling, label)`);
    }
  });
  return (r) => tests.every((t) => t(r));
}

async function listImages(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  // all=1 shows the build cache's intermediate images too, as docker shows its intermediate ones
  const all = boolParam(r.query, 'all');
  const usage = new Map(engine.images.diskUsage().images.map((u) => [u.id, u]));
  const configs = new Map<string, Awaited<ReturnType<typeof imageConfig>>>();
  for (const record of engine.images.listImages()) configs.set(record.id, await imageConfig(engine.images, record));
  const labelsOf = (rec: ImageRecord) => configs.get(rec.id)?.config?.Labels ?? {};
  const matches = imageFilter(filtersParam(r.query), labelsOf);
  const containers = new Map<string, number>();
  for (const c of engine.containers.list()) containers.set(c.imageId, (containers.get(c.imageId) ?? 0) + 1);
  const out = engine.images
    .listImages()
    .filter((rec) => all || !rec.buildCache)
    .filter(matches)
    .map((rec) => {
      const config = configs.get(rec.id);
      const size = usage.get(rec.id)?.size ?? 0;
      return {
        Id: rec.id,
        ParentId: '',
        RepoTags: familiarNames(rec),
        RepoDigests: rec.repoDigests,
        Created: Math.floor(Date.parse(config?.created ?? rec.added) / 1000) || 0,
        Size: size,
        VirtualSize: size,
        SharedSize: usage.get(rec.id)?.sharedSize ?? 0,
        Labels: labelsOf(rec),
        Containers: containers.get(rec.id) ?? 0,
      };
    });
  sendJson(r, 200, out);
}

async function inspect(r: ApiRequest): Promise<void> {
  const image = await inspectImage(r.service.engine.images, r.params[0]);
  sendJson(r, 200, {
    Parent: '',
    Comment: '',
    Container: '',
    ContainerConfig: {},
    DockerVersion: '',
    VirtualSize: image.Size,
    GraphDriver: { Name: 'overlay', Data: {} },
    ...image,
  });
}

export const imageRoutes: Route[] = [
  { method: 'GET', path: '/images/json', handler: listImages },
  { method: 'GET', path: '/images/{name*}/json', handler: inspect },
];
