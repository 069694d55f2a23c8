// A client of one registry (OCI distribution spec v2): manifests by tag or digest, blobs streamed
// with resume, uploads (monolithic, chunked, cross-repository mount), and the auth registries
// use: anonymous, Basic, and bearer tokens from the realm a 401 names.
//   401 WWW-Authenticate: Bearer realm="R",service="S",scope="repository:x:pull"
//   → GET R?service=S&scope=... (Basic with the stored credentials, if any) → {"token": T}
//   → the request again with Authorization: Bearer T
import { createHash } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { registryHost } from '../reference.js';
import type { RangedSource } from '../blobs.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType, type Descriptor, type Digest } from '../../oci/image-spec.js';
import { DigestError } from '../errors.js';
import { readCredentials, type Credentials } from './credentials.js';
import {
  bodyGroups,
  delay,
  describeNetworkError,
  discard,
  isTransient,
  readBody,
  RegistryError,
  registryMessage,
  retryAfterMs,
  send,
  transientStatus,
  type BodyFactory,
  type HttpResponse,
} from './http.js';

export { RegistryError } from './http.js';

/** Every manifest kind berth reads, best first (docker sends the same list). */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Network chunks gathered into batches of this many bytes (one write each downstream). */
const BATCH_BYTES = 1024 * 1024;

export interface RegistryOptions {
  /** false: https without certificate checks, or plain http when the registry speaks no TLS. */
  tlsVerify?: boolean;
  /** Explicit credentials; undefined reads the docker config; null means anonymous. */
  credentials?: Credentials | null;
  /** Attempts of a request that fails transiently (default 5). */
  attempts?: number;
  /** First wait between attempts, doubled each time (default 250 ms). */
  retryDelayMs?: number;
  /** The longest a registry's Retry-After is waited for (default 30 s): an hour is not waited out. */
  maxRetryAfterMs?: number;
  /** Told of each retry (progress lines), with the wait before it. */
  onRetry?: (what: string, attempt: number, err: Error, waitMs: number) => void;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** `Bearer realm="https://x/token",service="reg",scope="a b"` → {scheme, params}. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined || header === '') return undefined;
  const m = /^\s*(\S+)\s*(.*)$/.exec(header);
  if (m === null) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?/g;
  for (let p = re.exec(m[2]!); p !== null; p = re.exec(m[2]!)) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  return { scheme: m[1]!.toLowerCase(), params };
}

export function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

interface RequestOptions {
  headers?: OutgoingHttpHeaders;
  body?: BodyFactory;
  /** Token scopes this request needs (`repository:x:pull`). */
  scopes: string[];
  /** Named in errors. */
  what: string;
  /** Statuses that are answers, not errors (the caller reads them). */
  ok: number[];
  /** false for requests that cannot be sent twice (a PATCH of an upload). */
  retry?: boolean;
  signal?: AbortSignal;
}

export interface ManifestResponse {
  bytes: Buffer;
  mediaType: string;
  digest: Digest;
}

/** `login`'s check (berth login, the API's /auth): the registry at `domain` takes these credentials (GET /v2/ with them). */
export async function verifyLogin(domain: string, credentials: Credentials, tlsVerify = true): Promise<void> {
  await new RegistryClient(domain, { credentials, tlsVerify }).ping();
}

function byteLength(chunks: Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/** `chunks` without their first `skip` bytes, and what is still to skip after them. */
function skipFront(chunks: Buffer[], skip: number): { batch: Buffer[]; skip: number } {
  const batch: Buffer[] = [];
  for (const c of chunks) {
    const drop = Math.min(skip, c.length);
    skip -= drop;
    if (drop < c.length) batch.push(drop > 0 ? c.subarray(drop) : c);
  }
  return { batch, skip };
}

export class RegistryClient {
  /** The host spoken to: Docker Hub's API host for docker.io. */
  readonly host: string;
  private readonly credentials: Credentials | undefined;
  private scheme: 'https:' | 'http:' | undefined;
  /** Authorization header values by the scopes they were obtained for. */
  private readonly tokens = new Map<string, string>();
  private basic = false;

  constructor(
    readonly domain: string,
    readonly options: RegistryOptions = {},
  ) {
    this.host = registryHost(domain);
    this.credentials = options.credentials === null ? undefined : (options.credentials ?? readCredentials(domain));
    if (isLoopback(this.host)) this.scheme = 'http:';
    else if (options.tlsVerify !== false) this.scheme = 'https:';
  }

  private url(path: string): URL {
    return new URL(`${this.scheme ?? 'https:'}//${this.host}${path}`);
  }

  /** With --tls-verify=false: https when the registry speaks it, else plain http (as docker does). */
  private async detectScheme(signal?: AbortSignal): Promise<void> {
    if (this.scheme !== undefined) return;
    try {
      const res = await send({ method: 'GET', url: new URL(`https://${this.host}/v2/`), insecureTLS: true, signal });
      await discard(res);
      this.scheme = 'https:';
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('ERR_SSL') || code === 'EPROTO' || code === 'ECONNRESET') this.scheme = 'http:';
      else throw new RegistryError(`${this.host}: ${describeNetworkError(err)}`);
    }
  }

  /** A request with retries of transient failures and the auth flow on 401. */
  async request(method: string, path: string, o: RequestOptions): Promise<HttpResponse> {
    await this.detectScheme(o.signal);
    const scopeKey = o.scopes.join(' ');
    for (let round = 0; ; round++) {
      const auth = this.tokens.get(scopeKey) ?? (this.basic ? this.basicHeader() : undefined);
      const res = await this.withRetries(o.what, o.retry !== false, o.signal, async () => {
        let r: HttpResponse;
        try {
          r = await send({ method, url: this.url(path), headers: { ...o.headers, ...(auth ? { Authorization: auth } : {}) }, body: o.body, insecureTLS: this.options.tlsVerify === false, signal: o.signal });
        } catch (err) {
          if (o.signal?.aborted) throw err;
          throw new RegistryError(`${o.what}: ${this.host}: ${describeNetworkError(err)}`, undefined, isTransient(err));
        }
        if (transientStatus(r.status) && !o.ok.includes(r.status)) {
          // The body only words the error: a body that cannot be read leaves the status to say it.
          const body = await readBody(r, 64 * 1024).catch(() => Buffer.alloc(0));
          throw new RegistryError(`${o.what}: ${registryMessage(body, r.status)} (${r.status})`, r.status, true, retryAfterMs(r.headers));
        }
        return r;
      });
      if (res.status === 401 && round === 0) {
        const challenge = parseChallenge(res.headers['www-authenticate'] as string | undefined);
        await discard(res);
        if (challenge === undefined) throw new RegistryError(`${o.what}: unauthorized (401, and no WWW-Authenticate challenge)`, 401);
        await this.authorize(challenge, o.scopes, scopeKey, o.what, o.signal);
        continue;
      }
      if (o.ok.includes(res.status)) return res;
      // As above: the body only words the error.
      const body = method === 'HEAD' ? Buffer.alloc(0) : await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
      throw this.statusError(res.status, body, o.what, auth !== undefined);
    }
  }

  private statusError(status: number, body: Buffer, what: string, authenticated: boolean): RegistryError {
    if (status === 401) {
      if (!authenticated || this.credentials === undefined) return new RegistryError(`${what}: unauthorized: authentication required (berth login ${this.domain})`, 401);
      if (this.basic) return new RegistryError(`${what}: unauthorized: wrong username or password`, 401);
      return new RegistryError(`${what}: unauthorized: ${registryMessage(body, status)}`, 401);
    }
    if (status === 403) return new RegistryError(`${what}: denied: ${registryMessage(body, status)} (403)`, 403);
    return new RegistryError(`${what}: ${registryMessage(body, status)} (${status})`, status);
  }

  private basicHeader(): string | undefined {
    if (this.credentials === undefined) return undefined;
    return `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64')}`;
  }

  private async authorize(challenge: Challenge, scopes: string[], scopeKey: string, what: string, signal?: AbortSignal): Promise<void> {
    if (challenge.scheme === 'basic') {
      if (this.credentials === undefined) throw new RegistryError(`${what}: unauthorized: authentication required (berth login ${this.domain})`, 401);
      this.basic = true;
      return;
    }
    if (challenge.scheme !== 'bearer') throw new RegistryError(`${what}: unsupported auth scheme ${challenge.scheme}`, 401);
    const realm = challenge.params.realm;
    if (!realm) throw new RegistryError(`${what}: bearer challenge without a realm`, 401);
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${what}: bearer realm ${JSON.stringify(realm)} is not a URL`, 401);
    }
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    const wanted = new Set(scopes);
    if (scopes.length === 0 && challenge.params.scope) for (const s of challenge.params.scope.split(' ')) wanted.add(s);
    for (const s of wanted) url.searchParams.append('scope', s);
    const basic = this.basicHeader();
    let res: HttpResponse;
    try {
      res = await this.withRetries(`token from ${url.origin}`, true, signal, async () => {
        const r = await send({ method: 'GET', url, headers: basic ? { Authorization: basic } : {}, insecureTLS: this.options.tlsVerify === false, signal });
        if (transientStatus(r.status)) {
          await discard(r);
          throw new RegistryError(`token server ${url.origin}: ${r.status}`, r.status, true, retryAfterMs(r.headers));
        }
        return r;
      });
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError(`${what}: token server ${url.origin}: ${describeNetworkError(err)}`);
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      const why = basic ? 'wrong username or password' : 'authentication required';
      throw new RegistryError(`${what}: unauthorized: token server ${url.origin} refused: ${why} (${res.status})`, res.status);
    }
    if (res.status !== 200) throw new RegistryError(`${what}: token server ${url.origin}: ${registryMessage(body, res.status)} (${res.status})`, res.status);
    let token: unknown;
    try {
      const doc = JSON.parse(body.toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = doc.token ?? doc.access_token;
    } catch {
      // checked below
    }
    if (typeof token !== 'string' || token === '') throw new RegistryError(`${what}: token server ${url.origin} answered without a token`);
    this.tokens.set(scopeKey, `Bearer ${token}`);
  }

  private async withRetries<T>(what: string, retry: boolean, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const attempts = retry ? (this.options.attempts ?? 5) : 1;
    for (let i = 1; ; i++) {
      try {
        return await attempt();
      } catch (err) {
        if (i >= attempts || !isTransient(err) || signal?.aborted) {
          if (i > 1 && err instanceof RegistryError) err.message += ` (gave up after ${i} attempts)`;
          throw err;
        }
        const base = (this.options.retryDelayMs ?? 250) * 2 ** (i - 1);
        const wait = err instanceof RegistryError && err.retryAfterMs !== undefined ? Math.min(err.retryAfterMs, this.options.maxRetryAfterMs ?? 30_000) : base + Math.random() * base * 0.2;
        this.options.onRetry?.(what, i, err as Error, wait);
        await delay(wait, signal);
      }
    }
  }

  /** GET /v2/: checks that the registry answers and that the credentials are accepted. */
  async ping(): Promise<void> {
    const res = await this.request('GET', '/v2/', { scopes: [], what: this.domain, ok: [200] });
    await discard(res);
  }

  /**
   * A manifest or index by tag or digest, verified: by digest, its bytes must hash to it; by tag,
   * they must hash to the Docker-Content-Digest the registry states (when it states one).
   */
  async getManifest(repo: string, reference: string, what: string, signal?: AbortSignal): Promise<ManifestResponse> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [pullScope(repo)], what, ok: [200], signal });
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, what);
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const stated = res.headers['docker-content-digest'];
    if (reference.includes(':') && reference !== digest) throw new DigestError(`${what}: manifest digest mismatch: asked for ${reference}, got content with ${digest}`);
    if (typeof stated === 'string' && stated.startsWith('sha256:') && stated !== digest) {
      throw new DigestError(`${what}: manifest digest mismatch: the registry says ${stated}, the content is ${digest}`);
    }
    const contentType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
    let mediaType = contentType;
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
      if (typeof doc.mediaType === 'string') mediaType = doc.mediaType;
    } catch {
      // parseManifestOrIndex names the problem
    }
    if (![...INDEX_MEDIA_TYPES, ...MANIFEST_MEDIA_TYPES].includes(mediaType) && [...INDEX_MEDIA_TYPES, ...MANIFEST_MEDIA_TYPES].includes(contentType)) mediaType = contentType;
    return { bytes, mediaType, digest };
  }

  /** HEAD of a manifest: its digest, or undefined when the registry has no such manifest. */
  async headManifest(repo: string, reference: string, what: string): Promise<{ digest?: Digest; mediaType?: string; size?: number } | undefined> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [pullScope(repo)], what, ok: [200, 404] });
    await discard(res);
    if (res.status === 404) return undefined;
    const digest = res.headers['docker-content-digest'];
    return { digest: typeof digest === 'string' ? digest : undefined, mediaType: res.headers['content-type'], size: Number(res.headers['content-length']) };
  }

  /**
   * A blob's content from byte `from` on (a Range request when `from` > 0), in batches of about
   * 1 MiB (the network's 16-64 KiB chunks, gathered for one writev each, not copied together).
   * `start` is where the content begins: `from`, or 0 when the registry ignores the range and
   * sends the whole blob. A connection that breaks later is resumed with Range (or the blob re-read
   * and skipped forward, when the registry ignores ranges). The consumer verifies the content.
   */
  async openBlob(repo: string, desc: Descriptor, what: string, from = 0, signal?: AbortSignal, onProgress?: (bytes: number) => void): Promise<RangedSource> {
    const get = async (offset: number): Promise<{ res: HttpResponse; skip: number }> => {
      const headers: OutgoingHttpHeaders = offset > 0 ? { Range: `bytes=${offset}-` } : {};
      const res = await this.request('GET', `/v2/${repo}/blobs/${desc.digest}`, { headers, scopes: [pullScope(repo)], what, ok: [200, 206], signal });
      if (res.status === 206) {
        const start = /bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''))?.[1];
        if (start !== undefined && Number(start) !== offset) {
          res.body.destroy();
          throw new RegistryError(`${what}: asked for bytes from ${offset}, the registry sent from ${start}`);
        }
        return { res, skip: 0 };
      }
      return { res, skip: offset };
    };
    const first = await get(from);
    const start = first.skip > 0 ? 0 : from;
    const client = this;
    let started = false;
    async function* batches(): AsyncGenerator<Buffer[]> {
      started = true;
      let offset = start;
      let failures = 0;
      // The first response starts where `start` says; a later one (after a break) may have to be
      // skipped forward, when the registry answers a Range with the whole blob.
      let current: { res: HttpResponse; skip: number } | undefined = { res: first.res, skip: 0 };
      for (;;) {
        const { res } = current ?? (current = await get(offset));
        let skip = current.skip;
        current = undefined;
        try {
          // Groups of BATCH_BYTES: the last one, and what arrived before a break, may be smaller
          // (what arrived is good: the resume continues after it).
          for await (let batch of bodyGroups(res.body, BATCH_BYTES)) {
            if (skip > 0) ({ batch, skip } = skipFront(batch, skip));
            const bytes = byteLength(batch);
            if (bytes === 0) continue;
            offset += bytes;
            onProgress?.(bytes);
            yield batch;
          }
          if (offset >= desc.size) return;
          throw new RegistryError(`${what}: the connection ended after ${offset} of ${desc.size} bytes`, undefined, true);
        } catch (err) {
          res.body.destroy();
          if (signal?.aborted || !isTransient(err) || ++failures >= (client.options.attempts ?? 5)) {
            if (err instanceof RegistryError) throw err;
            throw new RegistryError(`${what}: ${describeNetworkError(err)} after ${offset} of ${desc.size} bytes`);
          }
          const wait = (client.options.retryDelayMs ?? 250) * 2 ** (failures - 1);
          client.options.onRetry?.(what, failures, err as Error, wait);
          await delay(wait, signal);
        }
      }
    }
    return {
      start,
      batches: batches(),
      cancel: () => {
        // Once read, the batches' own end closes the response; unread, nobody else would.
        if (!started) first.res.body.destroy();
      },
    };
  }

  /** Does the repository have this blob? */
  async hasBlob(repo: string, digest: Digest, scopes: string[], what: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, { scopes, what, ok: [200, 404] });
    await discard(res);
    return res.status === 200;
  }

  /**
   * Mounts a blob from another repository of the same registry. True when mounted; false when the
   * registry started an ordinary upload instead (the session is abandoned; the caller uploads).
   */
  async mountBlob(repo: string, digest: Digest, from: string, what: string): Promise<boolean> {
    const path = `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`;
    const res = await this.request('POST', path, { scopes: [pushScope(repo), pullScope(from)], what, ok: [201, 202] });
    await discard(res);
    if (res.status === 202) await this.cancelUpload(res, repo);
    return res.status === 201;
  }

  private async cancelUpload(res: HttpResponse, repo: string): Promise<void> {
    const location = res.headers.location;
    if (typeof location !== 'string') return;
    try {
      const url = new URL(location, res.url);
      await discard(await this.request('DELETE', url.pathname + url.search, { scopes: [pushScope(repo)], what: 'cancel upload', ok: [204, 404, 405], retry: false }));
    } catch {
      // an abandoned upload session expires on its own
    }
  }

  /**
   * Uploads a blob: one PUT when it is at most `chunkSize`, else PATCHes of `chunkSize` bytes with
   * Content-Range, then the closing PUT ?digest=. `read(start, end)` gives bytes [start, end).
   */
  async uploadBlob(repo: string, desc: Descriptor, read: (start: number, end: number) => Readable, what: string, chunkSize = 32 * 1024 * 1024, onProgress?: (bytes: number) => void): Promise<void> {
    const scopes = [pushScope(repo)];
    const started = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scopes, what, ok: [202] });
    await discard(started);
    let location = uploadLocation(started, what);
    const counted = (stream: Readable, n: number): Readable => {
      stream.on('end', () => onProgress?.(n));
      return stream;
    };
    if (desc.size <= chunkSize) {
      const url = withDigest(location, desc.digest);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': desc.size };
      const res = await this.request('PUT', url.pathname + url.search, { headers, body: () => counted(read(0, desc.size), desc.size), scopes, what, ok: [201] });
      await discard(res);
      return;
    }
    for (let start = 0; start < desc.size; start += chunkSize) {
      const end = Math.min(desc.size, start + chunkSize);
      const headers = { 'Content-Type': 'application/octet-stream', 'Content-Length': end - start, 'Content-Range': `${start}-${end - 1}` };
      const res = await this.request('PATCH', location.pathname + location.search, { headers, body: () => counted(read(start, end), end - start), scopes, what, ok: [202], retry: false });
      await discard(res);
      location = uploadLocation(res, what);
    }
    const url = withDigest(location, desc.digest);
    const res = await this.request('PUT', url.pathname + url.search, { scopes, what, ok: [201] });
    await discard(res);
  }

  /** PUT of a manifest or index under a tag or its digest; returns the digest the registry states. */
  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string, what: string): Promise<Digest | undefined> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, { headers: { 'Content-Type': mediaType }, body: () => bytes, scopes: [pushScope(repo)], what, ok: [201, 200] });
    await discard(res);
    const digest = res.headers['docker-content-digest'];
    return typeof digest === 'string' ? digest : undefined;
  }
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function uploadLocation(res: HttpResponse, what: string): URL {
  const location = res.headers.location;
  if (typeof location !== 'string' || location === '') throw new RegistryError(`${what}: the registry started an upload without a Location`);
  return new URL(location, res.url);
}

function withDigest(location: URL, digest: Digest): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}
