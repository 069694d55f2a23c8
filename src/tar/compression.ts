// Layers come plain, gzip- or zstd-compressed: the first bytes say which.
import { Readable, type Transform } from 'node:stream';
import { createRequire } from 'node:module';
import type zlibTypes from 'node:zlib';

// node:zlib loads with the first compressed archive, not at every command's start (issue 17).
const zlib = () => createRequire(import.meta.url)('node:zlib') as typeof zlibTypes;

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

/** Names the compression from an archive's first bytes (at least 6 for xz). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32BE(0) === 0x28b52ffd) return 'zstd';
  if (head.length >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

/** Anything that yields chunks: a Readable, an async generator, an array of buffers. */
export type ByteSource = AsyncIterable<Buffer> | Iterable<Buffer> | Readable;

/** An async iterator over any ByteSource. */
export function byteIterator(source: ByteSource): AsyncIterator<Buffer> {
  const asyncIt = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator];
  if (asyncIt) return asyncIt.call(source);
  const it = (source as Iterable<Buffer>)[Symbol.iterator]();
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

/** Resolves at the stream's next 'drain' or at its 'close' (after an error), leaving no listener behind. */
export function drained(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/** Output chunk size of the decompressors: big chunks mean fewer callbacks per megabyte. */
const CHUNK = 256 * 1024;
/** How far decompression may run ahead of the consumer: it smooths out stretches of tiny files. */
const AHEAD = 8 * 1024 * 1024;

/** A decompressor for `kind`, or an error saying why there is none. */
export function createDecompressor(kind: Exclude<Compression, 'none'>): Transform {
  if (kind === 'gzip') return zlib().createGunzip({ chunkSize: CHUNK, readableHighWaterMark: AHEAD } as zlibTypes.ZlibOptions);
  if (kind === 'zstd') {
    const create = (zlib() as unknown as { createZstdDecompress?: (o?: object) => Transform }).createZstdDecompress;
    if (!create) throw new Error(`zstd layers need Node ≥ 22.15 (this is Node ${process.versions.node})`);
    return create({ chunkSize: CHUNK });
  }
  throw new Error(`${kind}-compressed archives are not supported (gzip, zstd or plain tar only)`);
}

/** The first bytes of a stream (by default enough to tell its compression); `eof` when the stream ended first. */
export async function readHead(input: AsyncIterator<Buffer>, size = 6): Promise<{ head: Buffer; eof: boolean }> {
  const first: Buffer[] = [];
  let have = 0;
  while (have < size) {
    const r = await input.next();
    if (r.done) return { head: Buffer.concat(first), eof: true };
    first.push(r.value);
    have += r.value.length;
  }
  return { head: Buffer.concat(first), eof: false };
}

/** The whole input again after readHead took its head: the head, then what the iterator has left. */
export async function* chunksFrom(head: Buffer, eof: boolean, input: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  while (!eof) {
    const r = await input.next();
    if (r.done) return;
    yield r.value;
  }
}

/** Like decompressedStream, as an async generator of chunks (one stream fewer on the way). */
export async function* decompressedChunks(source: ByteSource): AsyncGenerator<Buffer> {
  const input = byteIterator(source);
  const { head, eof } = await readHead(input);
  const kind = detectCompression(head);
  const rest = () => chunksFrom(head, eof, input);
  if (kind === 'none') {
    try {
      yield* rest();
    } finally {
      await input.return?.();
    }
    return;
  }
  const z = createDecompressor(kind);
  let inputError: unknown = null;
  const feed = (async () => {
    for await (const chunk of rest()) {
      if (z.destroyed) return;
      if (!z.write(chunk)) await drained(z);
    }
    z.end();
  })();
  feed.catch((err: unknown) => {
    inputError = err;
    z.destroy(err as Error);
  });
  try {
    for await (const out of z) yield out as Buffer;
    await feed;
  } catch (err) {
    if (err === inputError || inputError !== null) throw inputError;
    // zlib's own words ("unexpected end of file", "incorrect header check"), said of the stream.
    throw new Error(`${kind}: ${(err as Error).message}`, { cause: err });
  } finally {
    z.destroy();
    await input.return?.();
  }
}

/**
 * The uncompressed bytes of an archive: gzip (1f 8b) and zstd (28 b5 2f fd) are decompressed,
 * anything else passes through unchanged.
 */
export function decompressedStream(input: ByteSource): Readable {
  return Readable.from(decompressedChunks(input), { objectMode: false, highWaterMark: CHUNK });
}
