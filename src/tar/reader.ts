// Reading tar archives: a streaming async iterator of entries, a helper that picks named members
// out of a (possibly compressed) tar file, and an index of member offsets for random access.
import { createReadStream, promises as fsp } from 'node:fs';
import { Readable } from 'node:stream';
import { byteIterator, decompressedStream, detectCompression, type ByteSource } from './compression.js';
import { applyOverrides, BLOCK, decodeHeader, isZeroBlock, longNameText, padding, parsePax, TarError, type Overrides, type TarHeader } from './header.js';
import { TarParser } from './parser.js';

export interface TarEntry {
  header: TarHeader;
  /** Where the entry's first header block starts in the (uncompressed) archive. */
  offset: number;
  /** The body, streamed. Read it before asking for the next entry, or it is skipped. */
  body: AsyncIterable<Buffer>;
  /** Skips the rest of the body. */
  skip(): Promise<void>;
  /** Reads the whole body into one buffer. */
  buffer(): Promise<Buffer>;
}

type Event = { kind: 'entry'; header: TarHeader; offset: number } | { kind: 'data'; chunk: Buffer } | { kind: 'end' };

/**
 * Streams the entries of an uncompressed tar archive. Checksums are verified; a malformed or
 * truncated archive throws a TarError naming the offset. Body chunks are views of the input's
 * chunks (a Readable's chunks are never reused, so they stay valid).
 */
export async function* readTar(source: ByteSource): AsyncGenerator<TarEntry> {
  const input = byteIterator(source);
  let queue: Event[] = [];
  let head = 0;
  const parser = new TarParser({
    entry: (header, offset) => queue.push({ kind: 'entry', header, offset }),
    data: (chunk) => queue.push({ kind: 'data', chunk }),
    entryEnd: () => queue.push({ kind: 'end' }),
  });
  let eof = false;

  /** The next parser event, reading more input as needed; null at the end of the input. */
  const next = async (): Promise<Event | null> => {
    while (head >= queue.length) {
      queue = [];
      head = 0;
      if (eof) return null;
      const r = await input.next();
      if (r.done) {
        eof = true;
        parser.end();
      } else {
        parser.write(Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value as Uint8Array));
      }
    }
    return queue[head++]!;
  };

  try {
    for (;;) {
      const ev = await next();
      if (ev === null) return;
      if (ev.kind !== 'entry') continue;
      let bodyDone = false;
      let bodyBusy = false;
      const body: AsyncIterable<Buffer> = {
        async *[Symbol.asyncIterator]() {
          if (bodyBusy) throw new Error('tar: an entry body can be read only once');
          bodyBusy = true;
          while (!bodyDone) {
            const e = await next();
            if (e === null) return;
            if (e.kind === 'end') bodyDone = true;
            else if (e.kind === 'data') yield e.chunk;
          }
        },
      };
      const skip = async (): Promise<void> => {
        while (!bodyDone) {
          const e = await next();
          if (e === null || e.kind === 'end') bodyDone = true;
        }
      };
      yield {
        header: ev.header,
        offset: ev.offset,
        body,
        skip,
        buffer: async () => {
          const parts: Buffer[] = [];
          for await (const c of body) parts.push(c);
          return Buffer.concat(parts);
        },
      };
      await skip();
    }
  } finally {
    await input.return?.();
  }
}

/** Member names compare without a leading "./" or "/". */
export function normalizeMemberName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  while (n.startsWith('/')) n = n.slice(1);
  return n;
}

/**
 * Reads whole members of a tar file (plain, gzip or zstd) into memory: those named (compared
 * without "./"), or all regular files when no names are given. Stops reading once all are found.
 */
export async function readTarMembers(file: string, names?: Iterable<string>): Promise<Map<string, Buffer>> {
  const wanted = names ? new Set([...names].map(normalizeMemberName)) : null;
  const found = new Map<string, Buffer>();
  for await (const entry of readTar(decompressedStream(createReadStream(file, { highWaterMark: 256 * 1024 })))) {
    const name = normalizeMemberName(entry.header.name);
    if (entry.header.type !== 'file' || (wanted && !wanted.has(name))) continue;
    found.set(name, await entry.buffer());
    if (wanted && found.size === wanted.size) break;
  }
  return found;
}

export interface TarIndexEntry {
  header: TarHeader;
  /** Normalised name (no "./"). */
  name: string;
  /** Where the entry's first header block starts. */
  offset: number;
  /** Where its body starts: read `header.size` bytes from here. */
  dataOffset: number;
}

/**
 * Lists an uncompressed tar file's members with the offsets of their bodies, reading only the
 * headers (seeking over bodies), for random access with `openTarMember`.
 */
export async function indexTar(file: string): Promise<TarIndexEntry[]> {
  const fh = await fsp.open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const block = Buffer.alloc(BLOCK);
    const readExact = async (buf: Buffer, pos: number, what: string): Promise<void> => {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead !== buf.length) throw new TarError(`truncated archive: input ends ${what}`, pos + bytesRead);
    };
    const head = Buffer.alloc(6);
    await fh.read(head, 0, 6, 0);
    const compression = detectCompression(head);
    if (compression !== 'none') throw new Error(`tar: ${file} is ${compression}-compressed; indexTar needs a plain tar (use readTarMembers)`);
    const out: TarIndexEntry[] = [];
    let pos = 0;
    let pending: Overrides | null = null;
    let entryOffset = -1;
    for (;;) {
      await readExact(block, pos, 'without the end-of-archive blocks');
      if (isZeroBlock(block)) break;
      const { kind, header } = decodeHeader(block, 0, pos);
      if (entryOffset < 0) entryOffset = pos;
      const bodyStart = pos + BLOCK;
      const bodyEnd = bodyStart + header.size + padding(header.size);
      if (kind === 'pax' || kind === 'gnu-longname' || kind === 'gnu-longlink') {
        const body = Buffer.alloc(header.size);
        await readExact(body, bodyStart, 'in an extension header');
        pending ??= {};
        if (kind === 'pax') parsePax(body, pos, pending);
        else if (kind === 'gnu-longname') pending.name = longNameText(body);
        else pending.linkname = longNameText(body);
      } else if (kind === 'pax-global' || kind === 'skip') {
        entryOffset = -1;
      } else {
        if (pending) applyOverrides(header, pending);
        pending = null;
        const dataSize = header.size;
        if (header.type !== 'file') header.size = 0;
        if (header.type === 'file' && bodyStart + dataSize > fileSize) {
          throw new TarError(`truncated archive: input ends in the body of ${JSON.stringify(header.name)}`, fileSize);
        }
        out.push({ header, name: normalizeMemberName(header.name), offset: entryOffset, dataOffset: bodyStart });
        entryOffset = -1;
        pos = bodyStart + (header.type === 'file' || kind === 'gnu-dumpdir' ? dataSize + padding(dataSize) : 0);
        continue;
      }
      pos = bodyEnd;
    }
    return out;
  } finally {
    await fh.close();
  }
}

/** Streams one member's body out of an uncompressed tar file, given its index entry. */
export function openTarMember(file: string, entry: TarIndexEntry): Readable {
  if (entry.header.size === 0) return Readable.from([]);
  return createReadStream(file, { start: entry.dataOffset, end: entry.dataOffset + entry.header.size - 1, highWaterMark: 256 * 1024 });
}
