// Images: list, inspect and pull, in docker's shapes, from the same store as `berth images`.
import { familiarName, imageConfig, imageHistory, parsePlatform, parseReference, repositoryName, shortId, type ImageRecord } from '../image/index.js';
import { progressLines, pull, pushImage, type Credentials, type PullEvent, type PushEvent } from '../image/registry/index.js';
import { jsonLines, sayError, startStream, type Say } from './stream.js';
import { imagePruneOptions, pruneImages, removeImage } from '../engine/images.js';
import { inspectImage } from '../engine/inspect.js';
import type { EngineService } from '../engine/service.js';
import { ApiError, boolParam, filtersParam, labelMatches, sendEmpty, sendJson, type ApiRequest } from './http.js';
import { importImage } from './image-archives.js';
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
      case 'label':
        return (r) => labelMatches(labelsOf(r), value);
      default:
        throw new ApiError('invalid-argument', `invalid filter '${key}' (berth has reference, dangling, label)`);
    }
  });
  return (r) => tests.every((t) => t(r));
}

async function listImages(r: ApiRequest): Promise<void> {
  // all=1 shows the build cache's intermediate images too, as docker shows its intermediate ones
  const all = boolParam(r.query, 'all');
  const images = await imageSummaries(r.service.engine, filtersParam(r.query));
  sendJson(r, 200, images.filter((i) => all || !i.record.buildCache).map((i) => i.summary));
}

/** The images (those the filters keep) as GET /images/json lists them, each with its record. */
export async function imageSummaries(engine: EngineService, filters: [string, string][] = []): Promise<{ record: ImageRecord; summary: Record<string, unknown> }[]> {
  const usage = new Map(engine.images.diskUsage().images.map((u) => [u.id, u]));
  const configs = new Map<string, Awaited<ReturnType<typeof imageConfig>>>();
  for (const record of engine.images.listImages()) configs.set(record.id, await imageConfig(engine.images, record));
  const labelsOf = (rec: ImageRecord) => configs.get(rec.id)?.config?.Labels ?? {};
  const matches = imageFilter(filters, labelsOf);
  const containers = new Map<string, number>();
  for (const c of engine.containers.list()) containers.set(c.imageId, (containers.get(c.imageId) ?? 0) + 1);
  return engine.images
    .listImages()
    .filter(matches)
    .map((rec) => {
      const config = configs.get(rec.id);
      const size = usage.get(rec.id)?.size ?? 0;
      const summary = {
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
      return { record: rec, summary };
    });
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

/**
 * X-Registry-Auth: base64url JSON with a username and password. Without it the pull is anonymous:
 * the credentials root keeps for its own `berth pull` are never lent to an API client.
 */
export function registryAuth(header: string | string[] | undefined): Credentials | null {
  if (typeof header !== 'string' || header === '') return null;
  let auth: Record<string, unknown>;
  try {
    auth = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ApiError('invalid-argument', 'X-Registry-Auth: not base64url JSON');
  }
  if (typeof auth !== 'object' || auth === null) throw new ApiError('invalid-argument', 'X-Registry-Auth: not a JSON object');
  if (typeof auth.username === 'string' && auth.username !== '' && typeof auth.password === 'string') return { username: auth.username, password: auth.password };
  if (auth.identitytoken || auth.registrytoken) throw new ApiError('invalid-argument', 'X-Registry-Auth: berth takes a username and password, not tokens');
  return null;
}

/** A pull's or a push's events as dockerd's progress lines. */
function progressOf(say: Say, direction: 'pull' | 'push'): (e: PullEvent | PushEvent) => void {
  return (e) => {
    for (const line of progressLines(direction, e)) {
      // As dockerd: a byte count only while bytes move; a client without a terminal shows the other statuses.
      const moving = (line.status === 'Downloading' || line.status === 'Pushing') && line.total;
      say({ status: line.status, progressDetail: moving ? { current: line.current ?? 0, total: line.total } : {}, id: shortId(line.id) });
    }
  };
}

/** `POST /images/create?fromImage=&tag=`: a pull, its progress as docker's JSON lines (with fromSrc, an import). */
async function createImage(r: ApiRequest): Promise<void> {
  if (r.query.get('fromSrc')) return importImage(r);
  const from = r.query.get('fromImage');
  if (!from) throw new ApiError('invalid-argument', 'fromImage: the image to pull is required');
  const tag = r.query.get('tag');
  const text = !tag ? from : tag.includes(':') ? `${from}@${tag}` : `${from}:${tag}`;
  const ref = parseReference(text); // a bad reference is a 400, before any progress
  const platformText = r.query.get('platform');
  const platform = platformText ? parsePlatform(platformText) : undefined;
  const credentials = registryAuth(r.req.headers['x-registry-auth']);
  const out = startStream(r, 'application/json');
  const say = jsonLines(out);
  say({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag ?? 'latest' });
  try {
    const before = r.service.engine.images.find(text)?.id;
    const result = await pull(r.service.engine.images, text, { platform, credentials, onEvent: progressOf(say, 'pull') });
    say({ status: `Digest: ${result.digest}` });
    say({ status: `Status: ${before === result.record.id ? 'Image is up to date' : 'Downloaded newer image'} for ${familiarName(parseReference(result.reference))}` });
  } catch (err) {
    sayError(say, err);
  }
  out.end();
}

/** `DELETE /images/{name}` (docker rmi): never from under a container (409), `force` for an id with many names. */
async function remove(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const result = removeImage(engine.images, engine.containers, r.params[0], boolParam(r.query, 'force'));
  sendJson(r, 200, [...result.untagged.map((name) => ({ Untagged: familiarName(parseReference(name)) })), ...result.deleted.map((id) => ({ Deleted: id }))]);
}

/** `POST /images/{name}/tag?repo=&tag=` (docker tag): 201 and no body, as dockerd. */
async function tag(r: ApiRequest): Promise<void> {
  const repo = r.query.get('repo');
  if (!repo) throw new ApiError('invalid-argument', 'repo: the new name is required');
  const tagName = r.query.get('tag');
  r.service.engine.images.tag(r.params[0], tagName ? `${repo}:${tagName}` : repo);
  sendEmpty(r, 201);
}

/**
 * `POST /images/{name}/push?tag=` (docker push): the tag given, or every tag of the repository
 * (docker push -a); X-Registry-Auth as a pull's; docker's JSON progress, then the digest.
 */
async function push(r: ApiRequest): Promise<void> {
  const { images } = r.service.engine;
  const tagName = r.query.get('tag');
  const named = parseReference(tagName ? `${r.params[0]}:${tagName}` : r.params[0], { defaultTag: false });
  const repo = repositoryName(named);
  const targets =
    named.tag !== undefined || named.digest !== undefined
      ? [r.params[0] + (tagName ? `:${tagName}` : '')]
      : images.listImages().flatMap((rec) => rec.names.filter((n) => repositoryName(parseReference(n)) === repo));
  if (targets.length === 0) throw new ApiError('not-found', `An image does not exist locally with the tag: ${familiarName(named)}`);
  for (const t of targets) images.resolve(t); // a missing image is a 404, before any progress
  const credentials = registryAuth(r.req.headers['x-registry-auth']);
  const out = startStream(r, 'application/json');
  const say = jsonLines(out);
  say({ status: `The push refers to repository [${repo}]` });
  try {
    for (const target of targets) {
      const result = await pushImage(images, target, undefined, { credentials, onEvent: progressOf(say, 'push') });
      const ref = parseReference(result.reference);
      const tagOrDigest = ref.tag ?? ref.digest ?? 'latest';
      say({ status: `${tagOrDigest}: digest: ${result.digest} size: ${result.size}` });
      say({ progressDetail: {}, aux: { Tag: tagOrDigest, Digest: result.digest, Size: result.size } });
    }
  } catch (err) {
    sayError(say, err);
  }
  out.end();
}

/** `GET /images/{name}/history` (docker history): newest first, the image's own id on the first entry. */
async function history(r: ApiRequest): Promise<void> {
  const entries = await imageHistory(r.service.engine.images, r.params[0]);
  sendJson(
    r,
    200,
    entries.map((h) => ({ Id: h.id, Created: h.created ? Math.floor(Date.parse(h.created) / 1000) || 0 : 0, CreatedBy: h.createdBy, Tags: h.tags, Size: h.size, Comment: h.comment })),
  );
}

/** `POST /images/prune` (docker image prune): filters dangling (false: all unused), until, label and label!. */
async function prune(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const result = await pruneImages(engine.images, engine.containers, imagePruneOptions(filtersParam(r.query)));
  const deleted = [...result.untagged.map((n) => ({ Untagged: familiarName(parseReference(n)) })), ...result.deletedImages.map((id) => ({ Deleted: id }))];
  sendJson(r, 200, { ImagesDeleted: deleted, SpaceReclaimed: result.reclaimedBytes });
}

/** `GET /images/search`: berth keeps no index of a registry's images. */
function search(): never {
  throw new ApiError('not-implemented', 'berth does not implement GET /images/search (docker search): berth searches no registry; browse the registry itself');
}

export const imageRoutes: Route[] = [
  { method: 'POST', path: '/images/create', handler: createImage },
  { method: 'GET', path: '/images/json', handler: listImages },
  { method: 'GET', path: '/images/{name*}/json', handler: inspect },
  { method: 'POST', path: '/images/{name*}/tag', handler: tag },
  { method: 'POST', path: '/images/{name*}/push', handler: push },
  { method: 'GET', path: '/images/{name*}/history', handler: history },
  { method: 'POST', path: '/images/prune', handler: prune },
  { method: 'GET', path: '/images/search', handler: search },
  { method: 'DELETE', path: '/images/{name*}', handler: remove },
];
