// One HTTP exchange with a registry, on Node's own http/https: redirects followed (a registry
// may send blob reads to its storage), keep-alive agents, and errors sorted into transient ones
// (connection reset, timeout, 5xx, 429: worth another attempt) and the rest.
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { ImageError } from '../errors.js';

/** A failure of the exchange with a registry; `transient` ones are retried. */
export class RegistryError extends ImageError {
  constructor(
    message: string,
    readonly status?: number,
    readonly transient = false,
    readonly retryAfterMs?: number,
  ) {
    super(message, { kind: status === 401 || status === 403 ? 'unauthorized' : status === 404 ? 'not-found' : transient || status === undefined || status >= 500 ? 'system' : 'invalid-argument' });
  }
}

/** A body that can be sent again (a retry needs the bytes from the start). */
export type BodyFactory = () => Buffer | Readable;

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: OutgoingHttpHeaders;
  body?: BodyFactory;
  /** Accept a certificate that does not verify (--tls-verify=false). */
  insecureTLS?: boolean;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  /** After redirects. */
  url: URL;
}

/**
 * Extra CAs from BERTH_EXTRA_CA_CERTS (where berth's launcher moves NODE_EXTRA_CA_CERTS, which Node
 * would parse at every start): read at the first verified https connection, added to Node's own
 * roots. Without it, Node's default store, NODE_EXTRA_CA_CERTS included, is used as it is.
 */
function verifiedAgentOptions(): { ca?: string[] } {
  const file = process.env.BERTH_EXTRA_CA_CERTS;
  if (!file) return {};
  let extra: string;
  try {
    extra = readFileSync(file, 'utf8');
  } catch (err) {
    throw new RegistryError(`BERTH_EXTRA_CA_CERTS (NODE_EXTRA_CA_CERTS): cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { ca: [...rootCertificates(), extra] };
}

// node:http, node:https and node:tls load with a command's first request, and the agents with
// them: a command that talks to no registry does not pay their load at its start (issue 17).
const load = createRequire(import.meta.url);
const http = () => load('node:http') as typeof import('node:http');
const https = () => load('node:https') as typeof import('node:https');
const rootCertificates = () => (load('node:tls') as typeof import('node:tls')).rootCertificates;

let httpAgent: import('node:http').Agent | undefined;
let verifiedAgent: HttpsAgent | undefined;
let insecureAgent: HttpsAgent | undefined;

const agents = {
  get http(): import('node:http').Agent {
    httpAgent ??= new (http().Agent)({ keepAlive: true, maxSockets: 32 });
    return httpAgent;
  },
  get https(): HttpsAgent {
    verifiedAgent ??= new (https().Agent)({ keepAlive: true, maxSockets: 32, ...verifiedAgentOptions() });
    return verifiedAgent;
  },
  get insecure(): HttpsAgent {
    insecureAgent ??= new (https().Agent)({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });
    return insecureAgent;
  },
};

const IDLE_TIMEOUT_MS = 60_000;
const MAX_REDIRECTS = 5;
const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);

/** Is this error worth another attempt? */
export function isTransient(err: unknown): boolean {
  if (err instanceof RegistryError) return err.transient;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && TRANSIENT_CODES.has(code);
}

/** A connection error as one line: `connection refused`, `connection reset`. */
export function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ECONNRESET':
      return 'connection reset';
    case 'ETIMEDOUT':
      return 'timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host';
    default:
      return e?.message ?? String(err);
  }
}

function once(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const tls = req.url.protocol === 'https:';
    const send = tls ? https().request : http().request;
    const agent = tls ? (req.insecureTLS ? agents.insecure : agents.https) : agents.http;
    const body = req.body?.();
    const headers: OutgoingHttpHeaders = { 'User-Agent': 'berth/0.1.0', ...req.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    else if (body === undefined && (req.method === 'PUT' || req.method === 'POST' || req.method === 'PATCH')) headers['Content-Length'] ??= 0;
    const r = send(req.url, { method: req.method, headers, agent, signal: req.signal }, (res) => {
      res.socket?.setTimeout(IDLE_TIMEOUT_MS);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
    });
    r.setTimeout(IDLE_TIMEOUT_MS, () => r.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    r.on('error', (err) => {
      if (body instanceof Readable) body.destroy();
      reject(err);
    });
    if (body instanceof Readable) {
      body.on('error', (err) => r.destroy(err));
      body.pipe(r);
    } else r.end(body);
  });
}

/** One request, redirects followed (without the Authorization header once the host changes). */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let current = req;
  for (let hops = 0; ; hops++) {
    const res = await once(current);
    if (![301, 302, 303, 307, 308].includes(res.status) || typeof res.headers.location !== 'string' || hops >= MAX_REDIRECTS) return res;
    res.body.resume();
    const next = new URL(res.headers.location, current.url);
    const headers = { ...current.headers };
    if (next.host !== current.url.host) delete headers.Authorization;
    const method = res.status === 303 ? 'GET' : current.method;
    current = { ...current, url: next, headers, method, body: method === 'GET' ? undefined : current.body };
  }
}

/** Reads a whole (small) body; more than `limit` bytes is an error. */
export async function readBody(res: HttpResponse, limit = 8 * 1024 * 1024, what = 'response'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      res.body.destroy();
      throw new RegistryError(`${what}: more than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A body's chunks in groups of `bytes` or more (the last may be smaller), read with 'data' events:
 * a stream's async iterator costs several promises and ticks per 64 KiB chunk, measured at about
 * 80 ms of CPU in a 336 MB pull (issue 17); here it is one per group. At most two groups wait for
 * the consumer, then the body is paused. What arrived before an error or a premature close is
 * yielded first, then the error is thrown (ERR_STREAM_PREMATURE_CLOSE, as the iterator says it).
 * A consumer that stops early destroys the body.
 */
export async function* bodyGroups(body: Readable, bytes: number): AsyncGenerator<Buffer[]> {
  const ready: Buffer[][] = [];
  let group: Buffer[] = [];
  let groupBytes = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer): void => {
    group.push(chunk);
    groupBytes += chunk.length;
    if (groupBytes < bytes) return;
    ready.push(group);
    group = [];
    groupBytes = 0;
    if (ready.length >= 2) body.pause();
    notify();
  };
  const onEnd = (): void => {
    ended = true;
    notify();
  };
  const onError = (err: Error): void => {
    failure ??= err;
    notify();
  };
  const onClose = (): void => {
    if (!ended) onError(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  try {
    for (;;) {
      const next = ready.shift();
      if (next !== undefined) {
        if (body.isPaused() && !ended && failure === undefined) body.resume();
        yield next;
        continue;
      }
      if (ended || failure !== undefined) {
        if (groupBytes > 0) {
          const last = group;
          group = [];
          groupBytes = 0;
          yield last;
        }
        if (!ended && failure !== undefined) throw failure;
        return;
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('close', onClose);
    if (!ended) {
      // Errors of the destroyed body are of no interest any more, but must not be unhandled.
      body.destroy();
    } else body.off('error', onError);
  }
}

/** Drains a body that is not needed, so that the connection can be used again. */
export async function discard(res: HttpResponse): Promise<void> {
  try {
    for await (const _ of res.body) void _;
  } catch {
    // a broken body of a response we do not need
  }
}

/** The registry's own words for an error: `manifest unknown`, from {"errors":[{code,message}]}. */
export function registryMessage(body: Buffer, status: number): string {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: { code?: string; message?: string; detail?: unknown }[] };
    const first = doc.errors?.[0];
    if (first?.message) return first.message;
    if (first?.code) return first.code.toLowerCase().replace(/_/g, ' ');
  } catch {
    // not JSON: fall through to the status's name
  }
  const text = body.toString('utf8').trim().split('\n')[0] ?? '';
  if (text !== '' && text.length < 200 && !text.startsWith('<')) return text;
  return STATUS_TEXT[status] ?? `HTTP ${status}`;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'denied',
  404: 'not found',
  405: 'unsupported',
  416: 'range not satisfiable',
  429: 'too many requests',
  500: 'internal server error',
  502: 'bad gateway',
  503: 'service unavailable',
  504: 'gateway timeout',
};

/** 5xx and 429 are the registry's passing troubles. */
export function transientStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Retry-After in seconds (the date form is rare from registries: ignored). */
export function retryAfterMs(headers: IncomingHttpHeaders): number | undefined {
  const value = headers['retry-after'];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value) * 1000;
}

export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
