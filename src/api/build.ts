// `POST /build`: docker build's classic builder over the Engine API. The body is the context (a
// tar, maybe compressed, or a Dockerfile alone); the answer streams docker's JSON lines:
// `{"stream": …}` for the build's output, `{"aux": {"ID": …}}` for the image, and a failure as
// `{"errorDetail": {"code": N, "message": …}, "error": …}` (N: a failed RUN's exit status, which
// the CLI exits with). The work is the one build operation (src/build), as `berth build`'s.
import { StringDecoder } from 'node:string_decoder';
import { build, BuildCancelledError, RunFailedError, type BuildOptions } from '../build/index.js';
import { errorMessageOf } from '../errors.js';
import type { Credentials } from '../image/registry/index.js';
import { ApiError, boolParam, filtersParam, sendError, sendJson, type ApiRequest } from './http.js';
import { pruneBuildCache } from '../engine/images.js';
import { startStream, type ClientStream } from './stream.js';
import type { Route } from './router.js';

/** A query parameter holding a JSON object of strings (buildargs, labels); a null value is "not given". */
function jsonMap(query: URLSearchParams, name: string): Record<string, string> {
  const text = query.get(name);
  if (!text || text === 'null') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('invalid-argument', `query parameter ${name}: not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('invalid-argument', `query parameter ${name}: must be a JSON object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === null) continue; // docker CLI's `--build-arg NAME` with NAME unset in its environment
    if (typeof v !== 'string') throw new ApiError('invalid-argument', `query parameter ${name}: ${k}: must be a string`);
    out[k] = v;
  }
  return out;
}

/**
 * The settings docker's CLI always sends, at their defaults when not asked for: any other value
 * asks for something berth's builder does not do, and is refused by name rather than ignored.
 */
const UNSUPPORTED: [param: string, isDefault: (v: string) => boolean, what: string][] = [
  ['remote', (v) => v === '', 'a remote context (a git repository or a URL): send the context as the body'],
  ['cpusetcpus', (v) => v === '', '--cpuset-cpus for RUN'],
  ['cpusetmems', (v) => v === '', '--cpuset-mems for RUN'],
  ['cpushares', (v) => v === '' || v === '0', '--cpu-shares for RUN'],
  ['cpuquota', (v) => v === '' || v === '0', '--cpu-quota for RUN'],
  ['cpuperiod', (v) => v === '' || v === '0', '--cpu-period for RUN'],
  ['memory', (v) => v === '' || v === '0', '--memory for RUN'],
  ['memswap', (v) => v === '' || v === '0', '--memory-swap for RUN'],
  ['shmsize', (v) => v === '' || v === '0', '--shm-size for RUN'],
  ['cgroupparent', (v) => v === '', '--cgroup-parent for RUN'],
  ['ulimits', (v) => ['', 'null', '[]'].includes(v), '--ulimit for RUN'],
  ['extrahosts', (v) => v === '', '--add-host for RUN'],
  ['securityopt', (v) => v === '', '--security-opt for RUN'],
  ['isolation', (v) => v === '' || v === 'default', '--isolation'],
  ['squash', (v) => ['', '0', 'false'].includes(v), '--squash'],
  ['cachefrom', (v) => ['', 'null', '[]'].includes(v), '--cache-from (berth builds from its own cache only)'],
  ['platform', (v) => v === '', '--platform for the build (FROM --platform is supported)'],
  ['outputs', (v) => ['', 'null', '[]'].includes(v), "--output (BuildKit's)"],
];

/** X-Registry-Config: base64url JSON of `{"registry": {"username", "password"}}`, as docker's CLI sends its logins. */
export function registryConfig(header: string | string[] | undefined): Record<string, Credentials> {
  if (typeof header !== 'string' || header === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
  } catch {
    throw new ApiError('invalid-argument', 'X-Registry-Config: not base64url JSON');
  }
  if (typeof value !== 'object' || value === null) throw new ApiError('invalid-argument', 'X-Registry-Config: not a JSON object');
  const out: Record<string, Credentials> = {};
  for (const [server, auth] of Object.entries(value as Record<string, Record<string, unknown>>)) {
    if (typeof auth?.username !== 'string' || auth.username === '' || typeof auth.password !== 'string') continue; // a token or an empty entry: anonymous
    // `https://index.docker.io/v1/` is Docker Hub's; others are `host:port`, maybe with a scheme.
    const host = server.replace(/^[a-z]+:\/\//, '').split('/')[0]!;
    out[host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host] = { username: auth.username, password: auth.password };
  }
  return out;
}

/** The build's options from the query (docker's names), everything unsupported refused before any work. */
function buildOptions(r: ApiRequest): BuildOptions {
  const q = r.query;
  const version = q.get('version');
  if (version === '2') throw new ApiError('not-implemented', 'BuildKit (version=2) is not supported by berth: use the classic builder (DOCKER_BUILDKIT=0)');
  if (version !== null && version !== '' && version !== '1') throw new ApiError('invalid-argument', `query parameter version=${version}: use 1 (the classic builder)`);
  for (const [param, isDefault, what] of UNSUPPORTED) {
    const value = q.get(param);
    if (value !== null && !isDefault(value)) throw new ApiError('not-implemented', `${param}=${value}: berth build does not support ${what}`);
  }
  // rm and forcerm: berth removes every intermediate container, the failed step's too (forcerm);
  // keeping them (--rm=false) it does not do.
  if (!boolParam(q, 'rm', true)) throw new ApiError('not-implemented', 'rm=0: berth build always removes its intermediate containers (--rm=false is not supported)');
  boolParam(q, 'forcerm');
  const network = q.get('networkmode');
  const target = q.get('target');
  const dockerfile = q.get('dockerfile');
  return {
    context: r.req,
    ...(dockerfile ? { dockerfile } : {}),
    tags: q.getAll('t').filter((t) => t !== ''),
    buildArgs: jsonMap(q, 'buildargs'),
    ...(target ? { target } : {}),
    noCache: boolParam(q, 'nocache'),
    pull: boolParam(q, 'pull'),
    labels: jsonMap(q, 'labels'),
    ...(network && network !== 'default' ? { network } : {}),
    credentials: registryConfig(r.req.headers['x-registry-config']),
  };
}

async function postBuild(r: ApiRequest): Promise<void> {
  let options: BuildOptions;
  try {
    options = buildOptions(r);
  } catch (err) {
    r.req.resume(); // the context is not read: dropped, so that the client reads the error
    throw err;
  }
  const quiet = boolParam(r.query, 'q');
  // The answer starts with the first line, as dockerd's: an error before any (a bad parameter, a
  // Dockerfile that does not parse, a context that is not one) is a plain error status.
  let out: ClientStream | undefined;
  const line = (body: Record<string, unknown>) => {
    out ??= startStream(r, 'application/json');
    out.write('stdout', Buffer.from(`${JSON.stringify(body)}\r\n`));
  };
  // -q: the output is held back, and sent only if the build fails (dockerd's notVerboseBuffer).
  const held: string[] = [];
  const decoder = new StringDecoder('utf8');
  const say = (text: string) => {
    if (text === '') return;
    if (quiet) held.push(text);
    else line({ stream: text });
  };
  // The client gone (docker build's Ctrl-C closes the connection): the build stops, cleaned up.
  const controller = new AbortController();
  const onClose = () => {
    if (!r.res!.writableEnded) controller.abort('the client closed the connection');
  };
  r.res!.once('close', onClose);
  try {
    const result = await build(r.service.engine, { ...options, signal: controller.signal }, {
      stream: (chunk) => say(decoder.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)),
      built: (id) => (quiet ? undefined : line({ aux: { ID: id } })),
    });
    say(decoder.end());
    if (quiet) line({ stream: `${result.id}\n` });
  } catch (err) {
    say(decoder.end());
    if (quiet && held.length > 0) line({ stream: held.join('') });
    if (err instanceof BuildCancelledError && r.res!.destroyed) return;
    if (out === undefined) {
      sendError(r.res!, r.method, err);
      return;
    }
    const code = err instanceof RunFailedError ? err.exitCode : undefined;
    line({ errorDetail: { ...(code !== undefined ? { code } : {}), message: errorMessageOf(err) }, error: errorMessageOf(err) });
  } finally {
    r.res!.off('close', onClose);
  }
  out?.end();
}

/** `POST /build/prune` (docker builder prune, the end of docker system prune): the build cache's unused images. */
async function pruneCache(r: ApiRequest): Promise<void> {
  const filters = filtersParam(r.query);
  if (filters.length) throw new ApiError('invalid-argument', `filter ${filters[0][0]}: berth's build cache prune takes no filters`);
  const { engine } = r.service;
  const result = await pruneBuildCache(engine.images, engine.containers);
  sendJson(r, 200, { CachesDeleted: result.deletedImages, SpaceReclaimed: result.reclaimedBytes });
}

export const buildRoutes: Route[] = [
  { method: 'POST', path: '/build', handler: postBuild },
  { method: 'POST', path: '/build/prune', handler: pruneCache },
];
