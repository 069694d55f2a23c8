// Containers' lifecycle through the API: create, start, stop, kill, restart, pause, unpause,
// rename, remove, wait — each the engine's operation of the same name, answered as dockerd
// answers (201 with the id, 204, 304 for a start or stop that has nothing to do).
import type { ContainerRecord } from '../engine/containers.js';
import { errorKindOf, errorMessageOf } from '../errors.js';
import { createOptions } from './create-body.js';
import { requireImagePlatform } from '../engine/images.js';
import { parsePlatform } from '../image/index.js';
import { ApiError, apiHeaders, boolParam, intParam, readJson, sendEmpty, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';

const live = (r: ContainerRecord) => r.state.status === 'running' || r.state.status === 'paused';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function create(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const name = r.query.get('name') || undefined;
  const { options } = createOptions(await readJson(r), name);
  // A 404 for the image makes the docker CLI pull it and create again.
  if (!engine.images.find(options.image)) throw new ApiError('not-found', `No such image: ${options.image}`);
  const platform = r.query.get('platform');
  if (platform) await requireImagePlatform(engine.images, options.image, parsePlatform(platform));
  const record = await engine.create(options);
  sendJson(r, 201, { Id: record.id, Warnings: [] });
}

async function start(r: ApiRequest): Promise<void> {
  const record = await r.service.engine.inspect(r.params[0]);
  if (live(record)) return sendEmpty(r, 304);
  await r.state.start(record.id);
  sendEmpty(r, 204);
}

async function stop(r: ApiRequest): Promise<void> {
  const record = await r.service.engine.inspect(r.params[0]);
  if (!live(record)) return sendEmpty(r, 304);
  await r.service.engine.stop(record.id, intParam(r.query, 't'));
  sendEmpty(r, 204);
}

async function restart(r: ApiRequest): Promise<void> {
  await r.service.engine.restart(r.params[0], intParam(r.query, 't'));
  sendEmpty(r, 204);
}

async function kill(r: ApiRequest): Promise<void> {
  await r.service.engine.kill(r.params[0], r.query.get('signal') || 'SIGKILL');
  sendEmpty(r, 204);
}

async function pause(r: ApiRequest): Promise<void> {
  await r.service.engine.pause(r.params[0]);
  sendEmpty(r, 204);
}

async function unpause(r: ApiRequest): Promise<void> {
  await r.service.engine.unpause(r.params[0]);
  sendEmpty(r, 204);
}

async function rename(r: ApiRequest): Promise<void> {
  const name = r.query.get('name');
  if (!name) throw new ApiError('invalid-argument', 'rename: the query parameter name is required');
  await r.service.engine.rename(r.params[0], name);
  sendEmpty(r, 204);
}

async function remove(r: ApiRequest): Promise<void> {
  if (boolParam(r.query, 'link')) throw new ApiError('invalid-argument', 'link: berth has no legacy links to remove');
  await r.service.engine.remove(r.params[0], boolParam(r.query, 'force'), boolParam(r.query, 'v'));
  sendEmpty(r, 204);
}

/**
 * `wait?condition=not-running|next-exit|removed`. The answer's headers go out at once, as
 * dockerd's do: a client that waits before it starts the container knows its wait is in place.
 */
async function wait(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const condition = r.query.get('condition') || 'not-running';
  if (!['not-running', 'next-exit', 'removed'].includes(condition)) throw new ApiError('invalid-argument', `condition ${condition}: use not-running, next-exit or removed`);
  let record: ContainerRecord | null;
  try {
    record = await engine.inspect(r.params[0]);
  } catch (err) {
    // A --rm container that this service started may be gone by the time its client waits.
    const code = errorKindOf(err) === 'not-found' && condition !== 'not-running' ? r.state.takeExit(r.params[0]) : undefined;
    if (code === undefined) throw err;
    return sendJson(r, 200, { StatusCode: code, Error: null });
  }
  const res = r.res!;
  res.writeHead(200, { ...apiHeaders(), 'Content-Type': 'application/json' });
  res.flushHeaders();
  res.socket?.setTimeout(0);
  let gone = false;
  res.once('close', () => (gone = true));
  const id = record.id;
  let answer: { StatusCode: number; Error: null | { Message: string } };
  try {
    let code: number | undefined;
    if (condition === 'not-running' && !live(record)) code = record.state.exitCode;
    else if (record.state.status === 'exited' && condition !== 'not-running') {
      // Its last run ended before this wait came: that exit if this service started the run, else the next one's.
      code = r.state.takeExit(id, record.state.startedAt);
      if (code === undefined) {
        const startedAt = record.state.startedAt;
        while (!gone && engine.containers.tryLoad(id)?.state.startedAt === startedAt) await sleep(100);
      }
    }
    if (code === undefined && !gone) {
      const watch = engine.watchExit(id);
      try {
        code = await watch.wait();
      } finally {
        watch.release();
      }
    }
    if (condition === 'removed') while (!gone && engine.containers.tryLoad(id)) await sleep(100);
    answer = { StatusCode: code ?? -1, Error: null };
  } catch (err) {
    answer = { StatusCode: -1, Error: { Message: errorMessageOf(err) } };
  }
  if (!gone) res.end(JSON.stringify(answer) + '\n');
}

export const lifecycleRoutes: Route[] = [
  { method: 'POST', path: '/containers/create', handler: create },
  { method: 'POST', path: '/containers/{id}/start', handler: start },
  { method: 'POST', path: '/containers/{id}/stop', handler: stop },
  { method: 'POST', path: '/containers/{id}/restart', handler: restart },
  { method: 'POST', path: '/containers/{id}/kill', handler: kill },
  { method: 'POST', path: '/containers/{id}/pause', handler: pause },
  { method: 'POST', path: '/containers/{id}/unpause', handler: unpause },
  { method: 'POST', path: '/containers/{id}/rename', handler: rename },
  { method: 'POST', path: '/containers/{id}/wait', handler: wait },
  { method: 'DELETE', path: '/containers/{id}', handler: remove },
];
