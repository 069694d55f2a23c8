// `berth system service`: the Docker Engine API on a unix socket (or, when asked, TCP), served
// by Node's http module. The service holds no container: it calls the engine's operations over
// the same store as the `berth` CLI, and conmon watches every container it starts, so stopping
// the service stops nothing. It exits after `idle` seconds without a connection (0: never).
import { chmodSync, chownSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { connect, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { execFileSync } from 'node:child_process';
import { errorMessageOf, httpStatusOf } from '../errors.js';
import { ApiError, apiHeaders, discardBody, sendError, type ApiRequest, type ServiceInfo } from './http.js';
import { Router } from './router.js';
import { routes } from './routes.js';
import { ServiceState } from './state.js';

export const DEFAULT_URI = 'unix:///run/berth/berth.sock';
/** podman's default: the service ends after 5 seconds without a client. */
export const DEFAULT_IDLE_SECONDS = 5;
/** A connection that sends nothing for this long (between requests, or within one) is closed. */
const SOCKET_IDLE_MS = 120_000;
const HEADERS_TIMEOUT_MS = 30_000;

export type Listen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** podman's URIs: unix:///path (or unix:path), tcp://HOST:PORT. */
export function parseServiceUri(uri: string): Listen {
  const unix = /^unix:(?:\/\/)?(\/.+)$/.exec(uri);
  if (unix) return { kind: 'unix', path: unix[1] };
  const tcp = /^tcp:\/\/(\[[0-9a-fA-F:]+\]|[^:/]+):(\d+)\/?$/.exec(uri);
  if (tcp) {
    const port = Number(tcp[2]);
    if (port < 1 || port > 65535) throw new ApiError('invalid-argument', `${uri}: port ${port} is out of range`);
    return { kind: 'tcp', host: tcp[1].replace(/^\[|\]$/g, ''), port };
  }
  throw new ApiError('invalid-argument', `${uri}: not a service URI (unix:///PATH or tcp://HOST:PORT)`);
}

/** The group the socket is given: docker's, else berth's, else root's. */
function socketGroup(): number {
  for (const name of ['docker', 'berth']) {
    try {
      return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
    } catch {
      // getent exits 2 when the group does not exist: try the next name.
    }
  }
  return 0;
}

/** A socket file left by a service that is gone is removed; one that answers is another's. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new ApiError('conflict', `${path}: another service is listening there`);
  unlinkSync(path);
}

export interface ServiceOptions {
  listen: Listen;
  idleSeconds: number;
  service: ServiceInfo;
  /** One line a request, or a warning: stderr. */
  log: (line: string) => void;
}

export interface RunningService {
  server: Server;
  /** Ends when the service stops (idle, or `close`). */
  done: Promise<void>;
  close(): void;
}

export async function startService(opts: ServiceOptions): Promise<RunningService> {
  const router = new Router(routes());
  const state = new ServiceState(opts.service.engine);
  // node:http loads when a service starts, not at every berth command's start (issue 17).
  const { createServer } = createRequire(import.meta.url)('node:http') as typeof import('node:http');
  const server = createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: 0, keepAliveTimeout: 5_000 });
  server.timeout = SOCKET_IDLE_MS;
  const handle = async (r: ApiRequest, fail: (err: unknown) => unknown) => {
    try {
      const found = router.match(r.req);
      Object.assign(r, { path: found.path, params: found.params, query: found.query, version: found.version });
      await found.handler(r);
    } catch (err) {
      if (httpStatusOf(err) >= 500) opts.log(`${r.method} ${r.req.url}: ${errorMessageOf(err)}`);
      await fail(err);
    }
  };
  const base = (req: IncomingMessage): ApiRequest => ({
    method: req.method ?? 'GET',
    path: '',
    params: [],
    query: new URLSearchParams(),
    version: '',
    req,
    service: opts.service,
    state,
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handle({ ...base(req), res }, async (err) => {
      await discardBody(req);
      sendError(res, req.method ?? 'GET', err);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    void handle({ ...base(req), socket, head }, (err) => {
      if (!socket.writable) return socket.destroy();
      const text = JSON.stringify({ message: errorMessageOf(err) }) + '\n';
      const headers = Object.entries({ ...apiHeaders(), 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), Connection: 'close' });
      socket.end(`HTTP/1.1 ${httpStatusOf(err)} ${httpStatusOf(err) === 404 ? 'Not Found' : 'Error'}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${text}`);
    });
  });
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  // Idle: no connection open for `idleSeconds`.
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => (resolveDone = resolve));
  const close = () => {
    state.close();
    server.close(() => resolveDone());
    server.closeAllConnections();
  };
  const arm = () => {
    if (opts.idleSeconds > 0 && open === 0) timer = setTimeout(close, opts.idleSeconds * 1000);
  };
  server.on('connection', (socket: Socket) => {
    open++;
    clearTimeout(timer);
    socket.once('close', () => {
      open--;
      arm();
    });
  });

  const listen = opts.listen;
  if (listen.kind === 'unix') {
    mkdirSync(dirname(listen.path), { recursive: true, mode: 0o755 });
    await clearStaleSocket(listen.path);
    // Made 0660 from the start (the umask of this moment), then given its group: never wider.
    const umask = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(listen.path, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    chownSync(listen.path, 0, socketGroup());
    chmodSync(listen.path, 0o660);
    server.once('close', () => {
      try {
        unlinkSync(listen.path);
      } catch {
        // Already gone (removed by hand, or by another service's stale-socket check): nothing to do.
      }
    });
  } else {
    opts.log(`WARNING: the API on tcp://${listen.host}:${listen.port} is unauthenticated: anyone who reaches it is root on this host`);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => resolve());
    });
  }
  arm();
  return { server, done, close };
}
