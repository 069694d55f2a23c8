// Images as tarballs and images from containers: save (`GET /images/{name}/get`, `GET
// /images/get?names=`), load (`POST /images/load`), import (`POST /images/create?fromSrc=-`) and
// commit (`POST /commit`), each the operation `berth save`, `load`, `import` and `commit` call.
import { applyChanges } from '../build/index.js';
import { familiarName, importRootfs, loadArchive, parseReference, saveArchive } from '../image/index.js';
import { ApiError, apiHeaders, boolParam, readJson, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';
import { jsonLines, startStream } from './stream.js';

/** The docker-archive of `names` as the answer; every name is found (404) before a byte goes. */
async function sendArchive(r: ApiRequest, names: string[]): Promise<void> {
  const { images } = r.service.engine;
  if (names.length === 0) throw new ApiError('invalid-argument', 'names: at least one image is required');
  for (const name of names) images.resolve(name);
  const res = r.res!;
  res.writeHead(200, { ...apiHeaders(), 'Content-Type': 'application/x-tar' });
  res.socket?.setTimeout(0); // a slow reader of a large image is not idle
  await saveArchive(images, names, res, 'docker');
}

/** `GET /images/{name}/get` (docker save IMAGE). */
function saveOne(r: ApiRequest): Promise<void> {
  return sendArchive(r, [r.params[0]]);
}

/** `GET /images/get?names=a&names=b` (docker save with several images). */
function saveMany(r: ApiRequest): Promise<void> {
  return sendArchive(r, r.query.getAll('names'));
}

/**
 * `POST /images/load` (docker load): the body is a docker-archive or OCI archive. The answer is
 * docker's JSON lines, one `Loaded image: NAME` a name (`Loaded image ID: ID` for an unnamed one);
 * `quiet` changes nothing, berth shows no progress of a load.
 */
async function load(r: ApiRequest): Promise<void> {
  boolParam(r.query, 'quiet');
  const result = await loadArchive(r.service.engine.images, r.req, { label: 'the request body' });
  const say = jsonLines(startStream(r, 'application/json'));
  for (const image of result.loaded) {
    if (image.names.length === 0) say({ stream: `Loaded image ID: ${image.id}\n` });
    for (const name of image.names) say({ stream: `Loaded image: ${familiarName(parseReference(name))}\n` });
  }
  r.res!.end();
}

/** `repo` and `tag` of import and commit as one reference (docker's CLI puts both in `repo`). */
function targetName(r: ApiRequest): string | undefined {
  const repo = r.query.get('repo');
  const tag = r.query.get('tag');
  if (!repo) {
    if (tag) throw new ApiError('invalid-argument', 'tag: given without repo');
    return undefined;
  }
  const name = tag ? `${repo}:${tag}` : repo;
  parseReference(name); // a bad name is a 400 before any work
  return name;
}

/** `POST /images/create?fromSrc=-` (docker import): the body is a rootfs tar; the answer, the new image's id. */
export async function importImage(r: ApiRequest): Promise<void> {
  const source = r.query.get('fromSrc');
  if (source !== '-') throw new ApiError('not-implemented', `fromSrc=${source}: berth imports the request body only (fromSrc=-), not a URL`);
  if (r.query.get('platform')) throw new ApiError('not-implemented', 'platform: berth imports for the host\'s platform only');
  const ref = targetName(r);
  const changes = r.query.getAll('changes');
  const config = changes.length ? applyChanges({}, changes) : undefined;
  const message = r.query.get('message') || undefined;
  const record = await importRootfs(r.service.engine.images, r.req, { ref, message, source, config });
  const out = startStream(r, 'application/json');
  jsonLines(out)({ status: record.id });
  out.end();
}

/**
 * `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=` (docker commit): 201 and
 * the new image's id. A config in the body is refused by name: berth takes `changes` instead.
 */
async function commit(r: ApiRequest): Promise<void> {
  const container = r.query.get('container');
  if (!container) throw new ApiError('invalid-argument', 'container: the container to commit is required');
  const body = await readJson(r);
  const given = Object.entries(body).filter(([, v]) => v !== null && v !== undefined && !(typeof v === 'object' && Object.keys(v as object).length === 0));
  if (given.length > 0) throw new ApiError('invalid-argument', `${given[0][0]}: berth does not take a config in the body of a commit (use changes)`);
  const changes = r.query.getAll('changes');
  const image = await r.service.engine.commit(container, {
    ref: targetName(r),
    comment: r.query.get('comment') || undefined,
    author: r.query.get('author') || undefined,
    pause: boolParam(r.query, 'pause', true),
    ...(changes.length ? { changeConfig: (config) => applyChanges(config, changes) } : {}),
  });
  sendJson(r, 201, { Id: image.id });
}

export const imageArchiveRoutes: Route[] = [
  { method: 'GET', path: '/images/get', handler: saveMany },
  { method: 'GET', path: '/images/{name*}/get', handler: saveOne },
  { method: 'POST', path: '/images/load', handler: load },
  { method: 'POST', path: '/commit', handler: commit },
];
