// The Engine API's routes: a method and a path pattern for each handler, the /vX.YY/ prefix and
// docker's version negotiation, and the answer for what berth does not do: 501 naming the
// endpoint for Docker's own endpoints, 404 for paths Docker does not have either.
import type { IncomingMessage } from 'node:http';
import { API_VERSION, ApiError, MIN_API_VERSION, type ApiRequest } from './http.js';

export type Handler = (r: ApiRequest) => Promise<void> | void;

export interface Route {
  method: string;
  /** As Docker's documentation writes it: `/containers/{id}/json`; `{name*}` may hold slashes (image names). */
  path: string;
  handler: Handler;
}

interface CompiledRoute extends Route {
  pattern: RegExp;
}

/** The first segments of Docker's own endpoints: a path under one that berth lacks is a 501, not a 404. */
const DOCKER_RESOURCES = new Set([
  'auth', 'build', 'commit', 'configs', 'containers', 'distribution', 'events', 'exec', 'grpc', 'images', 'info',
  'networks', 'nodes', 'plugins', 'secrets', 'services', 'session', 'swarm', 'system', 'tasks', 'version', 'volumes',
]);

function compile(route: Route): CompiledRoute {
  const source = route.path
    .split('/')
    .map((part) => (part === '{name*}' ? '(.+)' : /^\{\w+\}$/.test(part) ? '([^/]+)' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('/');
  return { ...route, pattern: new RegExp(`^${source}$`) };
}

function versionParts(v: string): [number, number] {
  const [major, minor] = v.split('.').map(Number);
  return [major, minor];
}

export function compareVersions(a: string, b: string): number {
  const [am, an] = versionParts(a);
  const [bm, bn] = versionParts(b);
  return am - bm || an - bn;
}

export class Router {
  private readonly routes: CompiledRoute[];

  constructor(routes: Route[]) {
    this.routes = routes.map(compile);
  }

  /**
   * The handler for a request, and its parameters; the path's /vX.YY/ prefix checked against
   * the versions berth answers, as dockerd's middleware does.
   */
  match(req: IncomingMessage): { handler: Handler; params: string[]; path: string; query: URLSearchParams; version: string } {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://berth');
    } catch {
      throw new ApiError('invalid-argument', 'malformed request URL');
    }
    let path = url.pathname;
    let version = API_VERSION;
    const prefix = /^\/v(\d+\.\d+)(\/.*)$/.exec(path);
    if (prefix) {
      version = prefix[1];
      path = prefix[2];
      if (compareVersions(version, MIN_API_VERSION) < 0) {
        throw new ApiError('invalid-argument', `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      }
      if (compareVersions(version, API_VERSION) > 0) throw new ApiError('invalid-argument', `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
    }
    const method = req.method === 'HEAD' ? ['HEAD', 'GET'] : [req.method ?? 'GET'];
    for (const m of method) {
      for (const route of this.routes) {
        if (route.method !== m) continue;
        const found = route.pattern.exec(path);
        if (!found) continue;
        let params: string[];
        try {
          params = found.slice(1).map((p) => decodeURIComponent(p));
        } catch {
          throw new ApiError('invalid-argument', `malformed path ${JSON.stringify(path)}`);
        }
        return { handler: route.handler, params, path, query: url.searchParams, version };
      }
    }
    const resource = path.split('/')[1] ?? '';
    if (DOCKER_RESOURCES.has(resource) || resource === '_ping') {
      throw new ApiError('not-implemented', `berth does not implement ${req.method} ${path} of the Docker Engine API (see docs/api.md)`);
    }
    throw new ApiError('not-found', 'page not found');
  }
}
