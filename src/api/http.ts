// The Engine API's requests and answers: what a handler is given (the path's parameters, the
// query, the negotiated version), the request body read with a bound, and docker's answers —
// JSON, `{"message": …}` errors with the status of the error's kind, and streams.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EngineService } from '../engine/service.js';
import type { ServiceState } from './state.js';
import { BerthError, errorMessageOf, httpStatusOf, type ErrorKind } from '../errors.js';

/** The API version berth speaks (docker 20.10's), and the oldest it answers. */
export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';
/** A JSON body larger than this is refused: a container's create is a few KiB. */
export const MAX_JSON_BODY = 1 << 20;

export class ApiError extends BerthError {
  override readonly name = 'ApiError';
  constructor(kind: ErrorKind, message: string) {
    super(message, { kind });
  }
}

/** What the service gives every handler. */
export interface ServiceInfo {
  engine: EngineService;
  /** berth's version, for /version and /info. */
  version: string;
}

export interface ApiRequest {
  method: string;
  /** The path without its /vX.YY prefix. */
  path: string;
  /** The path's parameters, in the order the route names them, decoded. */
  params: string[];
  query: URLSearchParams;
  /** The version the client asked for (its prefix), or berth's. */
  version: string;
  req: IncomingMessage;
  /** The answer, for a request; absent for an upgraded (hijacked) one, which has `socket`. */
  res?: ServerResponse;
  socket?: Duplex;
  /** Bytes the client sent after the upgraded request's headers. */
  head?: Buffer;
  service: ServiceInfo;
  state: ServiceState;
}

/** The common headers of dockerd's answers. */
export function apiHeaders(): Record<string, string> {
  return { 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', Ostype: 'linux', Server: 'berth (linux)' };
}

function response(r: ApiRequest): ServerResponse {
  if (!r.res) throw new ApiError('invalid-argument', `${r.method} ${r.path} does not upgrade the connection`);
  return r.res;
}

export function sendJson(r: ApiRequest, status: number, body: unknown): void {
  const res = response(r);
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { ...apiHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(r.method === 'HEAD' ? undefined : text);
}

export function sendEmpty(r: ApiRequest, status: number): void {
  response(r).writeHead(status, apiHeaders()).end();
}

export function sendText(r: ApiRequest, status: number, text: string, type = 'text/plain; charset=utf-8'): void {
  const res = response(r);
  res.writeHead(status, { ...apiHeaders(), 'Content-Type': type, 'Content-Length': Buffer.byteLength(text) });
  res.end(r.method === 'HEAD' ? undefined : text);
}

/** An error as dockerd answers it: the status of its kind, `{"message": …}`. */
export function sendError(res: ServerResponse, method: string, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ message: errorMessageOf(err) }) + '\n';
  res.writeHead(httpStatusOf(err), { ...apiHeaders(), 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(method === 'HEAD' ? undefined : text);
}

/**
 * The raw request body, refused past `limit` bytes. A refusal leaves the rest of the body unread:
 * the service's error path reads and drops it (discardBody) before it answers.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(new ApiError('invalid-argument', `request body of ${declared} bytes is over the limit of ${limit}`));
  // Events, not `for await`: leaving that loop early destroys the request, and with it the connection.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      cleanup();
      req.pause();
      reject(new ApiError('invalid-argument', `request body is over the limit of ${limit} bytes`));
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const onClose = () => {
      cleanup();
      reject(new ApiError('invalid-argument', 'the connection ended before the request body'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
    req.once('close', onClose);
  });
}

/**
 * What a refused request still sends, read and dropped (up to MAX_DISCARD_BYTES) before the
 * answer: answered earlier, Node's server closes the connection under a client still writing its
 * body, which gets EPIPE instead of the answer (Node's http client does; Go's tolerates it).
 */
export const MAX_DISCARD_BYTES = 16 << 20;

export function discardBody(req: IncomingMessage): Promise<void> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (req.complete || req.destroyed || declared > MAX_DISCARD_BYTES) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', done);
      req.off('close', done);
      req.off('error', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > MAX_DISCARD_BYTES) done(); // a body that never ends: answered now, the connection closed
    };
    req.on('data', onData);
    req.once('end', done);
    req.once('close', done);
    req.once('error', done);
    req.resume();
  });
}

/**
 * An upgraded request's body (exec start sends one): its Content-Length bytes, from what came
 * with the headers and then from the connection; what follows stays for the hijacked stream.
 */
async function readUpgradeBody(r: ApiRequest, limit: number): Promise<Buffer> {
  const length = Number(r.req.headers['content-length'] ?? 0);
  if (!Number.isSafeInteger(length) || length < 0) throw new ApiError('invalid-argument', 'Content-Length: not a length');
  if (length > limit) throw new ApiError('invalid-argument', `request body of ${length} bytes is over the limit of ${limit}`);
  let have = r.head ?? Buffer.alloc(0);
  const socket = r.socket!;
  while (have.length < length) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => done(d);
      const onEnd = () => done(null);
      const done = (d: Buffer | null) => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
        resolve(d);
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
    if (chunk === null) throw new ApiError('invalid-argument', 'the connection ended before the request body');
    have = Buffer.concat([have, chunk]);
  }
  r.head = have.subarray(length);
  return have.subarray(0, length);
}

/** The body as a JSON object (an empty body is `{}`); anything else is a 400. */
export async function readJson(r: ApiRequest): Promise<Record<string, unknown>> {
  const body = r.socket ? await readUpgradeBody(r, MAX_JSON_BODY) : await readBody(r.req, MAX_JSON_BODY);
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new ApiError('invalid-argument', `request body is not JSON: ${errorMessageOf(err)}`);
  }
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new ApiError('invalid-argument', 'request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** A boolean query parameter as dockerd reads one: 1, true, True (absent: `fallback`). */
export function boolParam(query: URLSearchParams, name: string, fallback = false): boolean {
  const v = query.get(name);
  if (v === null || v === '') return fallback;
  if (['1', 'true', 'True', 'TRUE'].includes(v)) return true;
  if (['0', 'false', 'False', 'FALSE'].includes(v)) return false;
  throw new ApiError('invalid-argument', `query parameter ${name}=${v}: not a boolean`);
}

/** An integer query parameter, checked. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw new ApiError('invalid-argument', `query parameter ${name}=${v}: not an integer`);
  return Number(v);
}

/**
 * docker's `filters` parameter, as key and value pairs: `{"status":["running"]}`, or the older
 * `{"label":{"a=b":true}}`.
 */
export function filtersParam(query: URLSearchParams): [string, string][] {
  const text = query.get('filters');
  if (!text) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ApiError('invalid-argument', 'query parameter filters: not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('invalid-argument', 'query parameter filters: must be a JSON object');
  const out: [string, string][] = [];
  for (const [key, values] of Object.entries(value)) {
    if (Array.isArray(values) && values.every((v) => typeof v === 'string')) {
      for (const v of values) out.push([key, v]);
    } else if (typeof values === 'object' && values !== null && !Array.isArray(values)) {
      for (const [v, on] of Object.entries(values)) if (on === true) out.push([key, v]);
    } else {
      throw new ApiError('invalid-argument', `query parameter filters: ${key}: must be a list of strings`);
    }
  }
  return out;
}

/** A body field that is a list of strings (absent: none). */
export function bodyStrings(where: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new ApiError('invalid-argument', `${where}: must be a list of strings`);
  return v;
}

/** A body field that is a string (absent or empty: undefined). */
export function bodyString(where: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new ApiError('invalid-argument', `${where}: must be a string`);
  return v;
}

/** docker's `label` filter: `key` (present) or `key=value` (the engine's, for containers, events and prune alike). */
export { labelMatches } from '../engine/container-list.js';
