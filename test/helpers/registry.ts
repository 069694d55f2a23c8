// Real registries for tests: Debian's docker-registry (the CNCF distribution registry 2.8) on
// 127.0.0.1 with a temporary storage dir, open, with htpasswd Basic auth, or with bearer tokens
// from a small token server run here (RS256 JWTs whose x5c header carries a self-signed cert
// that the registry trusts through its rootcertbundle). And a proxy in front of a registry that
// breaks what it forwards on purpose: altered manifests, wrong blob content, a connection cut.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSign, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const REGISTRY_USER = 'berth';
export const REGISTRY_PASSWORD = 's3cret';
/** bcrypt of REGISTRY_PASSWORD (made with libxcrypt's crypt(3), as `htpasswd -B` would). */
const HTPASSWD_HASH = '$2y$05$berthtestsaltberthteseNwrnkx0Py7mutYN8p0QP26orCHhs7Ou';

export function registryAvailable(): boolean {
  return existsSync(REGISTRY_BIN);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface TokenAuth {
  realm: string;
  service: string;
  issuer: string;
  certFile: string;
}

export interface Registry {
  /** `127.0.0.1:PORT` */
  host: string;
  port: number;
  storage: string;
  /** Stops it (also done by t.after). */
  stop(): Promise<void>;
}

export type RegistryAuth = { kind: 'open' } | { kind: 'htpasswd' } | { kind: 'token'; token: TokenAuth };

/** Starts docker-registry; stopped and its files removed after the test. */
export async function startRegistry(t: TestContext, auth: RegistryAuth = { kind: 'open' }): Promise<Registry> {
  const dir = mkdtempSync('/tmp/berth-test-registry-');
  const storage = join(dir, 'storage');
  const port = await freePort();
  let authYaml = '';
  if (auth.kind === 'htpasswd') {
    writeFileSync(join(dir, 'htpasswd'), `${REGISTRY_USER}:${HTPASSWD_HASH}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth.kind === 'token') {
    const { realm, service, issuer, certFile } = auth.token;
    authYaml = `auth:\n  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${certFile}\n`;
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    authYaml,
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(REGISTRY_BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (!stopped) {
      stopped = true;
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
    try {
      await httpGet(`http://127.0.0.1:${port}/v2/`);
      break;
    } catch {
      if (i > 200) throw new Error(`docker-registry did not answer on ${port}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return { host: `127.0.0.1:${port}`, port, storage, stop };
}

function httpGet(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface TokenServer extends TokenAuth {
  /** Scopes asked for, in order, with whether they were granted. */
  log: { user: string | undefined; scopes: string[]; granted: boolean }[];
  /** Refuse every token from now on (a token server that says no). */
  refuseAll: boolean;
}

/**
 * A token server on 127.0.0.1: Basic credentials REGISTRY_USER/REGISTRY_PASSWORD get a token for
 * what they ask; anyone else gets 401. Tokens are RS256 JWTs with the cert in their x5c header.
 */
export async function startTokenServer(t: TestContext): Promise<TokenServer> {
  const dir = mkdtempSync('/tmp/berth-test-token-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=berth-test-token'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
  const key = readFileSync(keyFile, 'utf8');
  const certDer = readFileSync(certFile, 'utf8').replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const service = 'berth-test-registry';
  const issuer = 'berth-test-issuer';
  const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope');
    const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const [user, password] = basic ? Buffer.from(basic, 'base64').toString('utf8').split(/:(.*)/s) : [undefined, undefined];
    const granted = !state.refuseAll && user === REGISTRY_USER && password === REGISTRY_PASSWORD && url.searchParams.get('service') === service;
    state.log.push({ user, scopes, granted });
    if (!granted) {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'access to the requested resource is not authorized' }] }));
      return;
    }
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':');
      const actions = rest.pop()!.split(',');
      return { type, name: rest.join(':'), actions };
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = createSign('RSA-SHA256').update(signing).sign(key);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: `${signing}.${b64url(signature)}`, expires_in: 300 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.unref();
  const port = (server.address() as AddressInfo).port;
  const state: TokenServer = { realm: `http://127.0.0.1:${port}/token`, service, issuer, certFile, log: [], refuseAll: false };
  return state;
}

export interface ProxyRules {
  /** Change a manifest's bytes (keeping the registry's Docker-Content-Digest header). */
  alterManifest?: boolean;
  /** Serve this blob with one byte flipped. */
  corruptBlob?: string;
  /** Cut the connection half-way through the first GET(s) of this blob. */
  cutBlob?: string;
  /** How many GETs of cutBlob are cut (default 1; Infinity: all of them). */
  cuts?: number;
  /**
   * Answer `status` (with `Retry-After: retryAfter` when given) instead of forwarding, to the
   * first `times` requests whose `METHOD path` matches `match` (default: every request).
   */
  fail?: { status: number; times: number; retryAfter?: number; match?: RegExp };
  /** Send this blob at about this many bytes a second, in small writes. */
  throttle?: { digest: string; bytesPerSecond: number };
  /** Forward without the Range header: whole blobs (200), as from a registry without ranges. */
  ignoreRange?: boolean;
}

export interface Proxy {
  host: string;
  rules: ProxyRules;
  /** Requests seen: `METHOD path [range]`. */
  seen: string[];
  /** When each of `seen` arrived (Date.now()). */
  at: number[];
  /** Requests answered by rules.fail. */
  failed: number;
}

/** `seen` lines of GETs of one blob. */
export function blobGets(proxy: Proxy, digest: string): string[] {
  return proxy.seen.filter((s) => s.startsWith('GET ') && s.includes(`/blobs/${digest}`));
}

/** A proxy to `target` (`127.0.0.1:PORT`) that breaks what `rules` say. */
export async function startProxy(t: TestContext, target: string, rules: ProxyRules = {}): Promise<Proxy> {
  const [targetHost, targetPort] = target.split(':') as [string, string];
  const state: Proxy = { host: '', rules, seen: [], at: [], failed: 0 };
  const cuts = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    const line = `${req.method} ${path}`;
    state.seen.push(`${line}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    state.at.push(Date.now());
    const fail = rules.fail;
    if (fail !== undefined && state.failed < fail.times && (fail.match === undefined || fail.match.test(line))) {
      state.failed += 1;
      const body = JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: fail.status === 429 ? 'too many requests' : 'service unavailable' }] });
      res.writeHead(fail.status, { 'Content-Type': 'application/json', ...(fail.retryAfter !== undefined ? { 'Retry-After': String(fail.retryAfter) } : {}) });
      res.end(body);
      req.resume();
      return;
    }
    const headers = { ...req.headers, host: target };
    if (rules.ignoreRange) delete headers.range;
    const upstream = request({ host: targetHost, port: Number(targetPort), method: req.method, path, headers }, (up) => {
      const headers = { ...up.headers };
      const isManifest = /\/manifests\//.test(path) && req.method === 'GET';
      const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path)?.[1];
      res.on('close', () => up.destroy());
      if (isManifest && rules.alterManifest && up.statusCode === 200) {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat([Buffer.concat(chunks), Buffer.from(' ')]);
          headers['content-length'] = String(body.length);
          res.writeHead(up.statusCode ?? 502, headers);
          res.end(body);
        });
        return;
      }
      if (blob !== undefined && req.method === 'GET' && blob === rules.corruptBlob && up.statusCode === 200) {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          body[Math.floor(body.length / 2)] ^= 0xff;
          res.writeHead(200, headers);
          res.end(body);
        });
        return;
      }
      if (blob !== undefined && req.method === 'GET' && blob === rules.cutBlob && (cuts.get(blob) ?? 0) < (rules.cuts ?? 1) && (up.statusCode === 200 || up.statusCode === 206)) {
        cuts.set(blob, (cuts.get(blob) ?? 0) + 1);
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          const body = Buffer.concat(chunks);
          res.writeHead(up.statusCode!, headers);
          res.write(body.subarray(0, Math.floor(body.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
        });
        return;
      }
      res.writeHead(up.statusCode ?? 502, headers);
      if (blob !== undefined && blob === rules.throttle?.digest) {
        throttled(up, res, rules.throttle.bytesPerSecond);
        return;
      }
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  state.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** Copies `from` to `to` in 16 KiB writes, paced to `bytesPerSecond`. */
function throttled(from: IncomingMessage, to: ServerResponse, bytesPerSecond: number): void {
  const piece = 16 * 1024;
  let sending = false;
  let ended = false;
  from.on('data', (chunk: Buffer) => {
    from.pause();
    sending = true;
    let offset = 0;
    const next = (): void => {
      if (to.destroyed) return;
      if (offset >= chunk.length) {
        sending = false;
        if (ended) to.end();
        else from.resume();
        return;
      }
      const part = chunk.subarray(offset, offset + piece);
      offset += part.length;
      to.write(part);
      setTimeout(next, (part.length / bytesPerSecond) * 1000);
    };
    next();
  });
  // 'end' can come while the last chunk is still being paced out: the response ends after it.
  from.on('end', () => {
    ended = true;
    if (!sending) to.end();
  });
}
