// Docker's streams: a hijacked connection (the HTTP upgrade of attach and exec start: after the
// 101, the connection carries the container's stdin one way and its output the other), the
// 8-byte header that multiplexes stdout and stderr on one stream when there is no terminal
// (stream type, three zero bytes, the length as a big-endian uint32), and streamed answers
// (logs, events, a pull's JSON progress) that end when the client goes.
import type { ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { errorMessageOf } from '../errors.js';
import { ApiError, apiHeaders, type ApiRequest } from './http.js';

export type StreamName = 'stdin' | 'stdout' | 'stderr';
const STREAM_TYPE: Record<StreamName, number> = { stdin: 0, stdout: 1, stderr: 2 };

/** One frame of the multiplexed stream. */
export function frame(stream: StreamName, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = STREAM_TYPE[stream];
  header.writeUInt32BE(data.length, 4);
  return Buffer.concat([header, data]);
}

/** The client's end of an attach or exec: output to it (framed unless raw), its input if it sends any. */
export interface ClientStream {
  write(stream: 'stdout' | 'stderr', data: Buffer): void;
  /** What the client sends (only on an upgraded connection). */
  input?: Readable;
  end(): void;
  /** The client is gone. */
  closed: Promise<void>;
  readonly isClosed: boolean;
}

function closedPromise(s: Duplex | ServerResponse): { closed: Promise<void>; isClosed: () => boolean } {
  let done = false;
  const closed = new Promise<void>((resolve) =>
    s.once('close', () => {
      done = true;
      resolve();
    }),
  );
  return { closed, isClosed: () => done };
}

/**
 * Takes the connection over, as dockerd does for attach and exec start: on an upgrade request a
 * 101 and the raw connection both ways; on a plain request a 200 whose body is the output.
 */
export function hijack(r: ApiRequest, raw: boolean): ClientStream {
  const encode = (stream: 'stdout' | 'stderr', data: Buffer) => (raw ? data : frame(stream, data));
  if (r.socket) {
    const socket = r.socket;
    const headers = { ...apiHeaders(), 'Content-Type': 'application/vnd.docker.raw-stream', Connection: 'Upgrade', Upgrade: 'tcp' };
    socket.write(`HTTP/1.1 101 UPGRADED\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    if (r.head?.length) socket.unshift(r.head);
    const { closed, isClosed } = closedPromise(socket);
    socket.on('error', () => socket.destroy());
    // An attached client may stay quiet for as long as the container runs.
    (socket as { setTimeout?: (ms: number) => void }).setTimeout?.(0);
    return {
      write: (stream, data) => void (socket.writable && socket.write(encode(stream, data))),
      input: socket,
      end: () => socket.end(),
      closed,
      get isClosed() {
        return isClosed();
      },
    };
  }
  const res = r.res!;
  res.writeHead(200, { ...apiHeaders(), 'Content-Type': 'application/vnd.docker.raw-stream' });
  res.flushHeaders();
  return streamOf(res, (stream, data) => res.write(encode(stream, data)));
}

/**
 * A streamed answer (logs, events, progress): written as it comes, framed when `framed` (a
 * container's output without a terminal), ended when done or when the client goes.
 */
export function startStream(r: ApiRequest, contentType: string, framed = false): ClientStream {
  const res = r.res!;
  res.writeHead(200, { ...apiHeaders(), 'Content-Type': contentType });
  res.flushHeaders();
  return streamOf(res, (stream, data) => res.write(framed ? frame(stream, data) : data));
}

function streamOf(res: ServerResponse, write: (stream: 'stdout' | 'stderr', data: Buffer) => void): ClientStream {
  res.socket?.setTimeout(0);
  const { closed, isClosed } = closedPromise(res);
  return {
    write: (stream, data) => void (!res.writableEnded && !res.destroyed && write(stream, data)),
    end: () => void (!res.writableEnded && res.end()),
    closed,
    get isClosed() {
      return isClosed();
    },
  };
}

export type Say = (line: Record<string, unknown>) => void;

/** docker's JSON lines on a streamed answer (pull, push, load, import). */
export function jsonLines(out: ClientStream): Say {
  return (line) => out.write('stdout', Buffer.from(JSON.stringify(line) + '\r\n'));
}

/** A failure once the stream has begun: docker's error line (the client exits non-zero on it). */
export function sayError(say: Say, err: unknown): void {
  say({ errorDetail: { message: errorMessageOf(err) }, error: errorMessageOf(err) });
}

/** docker's detach keys: `ctrl-p,ctrl-q`, `a`, `ctrl-@`... as bytes. */
export function parseDetachKeys(text: string | null): Buffer | undefined {
  if (!text) return undefined;
  const bytes = text.split(',').map((key) => {
    const ctrl = /^ctrl-([a-z@[\\\]^_])$/.exec(key);
    if (ctrl) return ctrl[1] === '@' ? 0 : ctrl[1].charCodeAt(0) & 0x1f;
    if (key.length === 1) return key.charCodeAt(0);
    throw new ApiError('invalid-argument', `detachKeys: ${key}: not a key (use ctrl-<value> or one character)`);
  });
  return Buffer.from(bytes);
}
