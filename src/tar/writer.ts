// Writing tar archives: ustar headers, pax extended headers where ustar cannot say it (long or
// non-ASCII names, big numbers, xattrs), bodies streamed, and the sha256 of every byte written
// (a layer's diffID when the output is the uncompressed layer).
import { createHash, type Hash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { drained } from './compression.js';
import { BLOCK, encodeHeader, padding, type TarEntryType, type TarHeader } from './header.js';

/** A header to write: name and type, the rest defaulted (root-owned, mtime 0, 0644 / 0755). */
export type TarEntryInput = Partial<TarHeader> & { name: string; type: TarEntryType };

export interface TarWriterResult {
  /** Bytes of tar written. */
  bytes: number;
  /** sha256 of those bytes, "sha256:...". */
  digest: string;
}

const ZEROS = Buffer.alloc(2 * BLOCK);
const READ_CHUNK = 256 * 1024;

export class TarWriter {
  private readonly hash: Hash = createHash('sha256');
  private bytes = 0;
  private failure: Error | null = null;
  private finished = false;

  /** Writes to `sink` (a file, a gzip stream, a socket), waiting on its back-pressure. */
  constructor(private readonly sink: Writable) {
    sink.on('error', (err: Error) => {
      this.failure ??= err;
    });
  }

  /** Fills in defaults; directories get the trailing slash docker writes. */
  static header(input: TarEntryInput, size = 0): TarHeader {
    const type = input.type;
    let name = input.name;
    if (type === 'dir' && !name.endsWith('/')) name += '/';
    return {
      name,
      type,
      mode: input.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: input.uid ?? 0,
      gid: input.gid ?? 0,
      size: type === 'file' ? input.size ?? size : 0,
      mtime: input.mtime ?? 0,
      linkname: input.linkname ?? '',
      devmajor: input.devmajor ?? 0,
      devminor: input.devminor ?? 0,
      uname: input.uname ?? '',
      gname: input.gname ?? '',
      xattrs: input.xattrs ?? {},
    };
  }

  private async push(buf: Buffer): Promise<void> {
    if (this.failure) throw this.failure;
    if (buf.length === 0) return;
    this.hash.update(buf);
    this.bytes += buf.length;
    if (!this.sink.write(buf)) {
      await drained(this.sink);
      if (this.failure) throw this.failure;
    }
  }

  /**
   * Adds an entry. A file's body is a Buffer/string (size taken from it) or a stream of chunks
   * whose total must equal `header.size`.
   */
  async add(input: TarEntryInput, body?: Buffer | string | AsyncIterable<Buffer | Uint8Array>): Promise<void> {
    if (this.finished) throw new Error('tar: add after finish');
    const data = typeof body === 'string' ? Buffer.from(body) : body;
    const h = TarWriter.header(input, Buffer.isBuffer(data) ? data.length : 0);
    await this.push(encodeHeader(h));
    if (h.type !== 'file') return;
    if (Buffer.isBuffer(data)) {
      if (data.length !== h.size) throw new Error(`tar: ${h.name}: body is ${data.length} bytes, header says ${h.size}`);
      await this.push(data);
    } else if (data) {
      let written = 0;
      for await (const chunk of data) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
        written += b.length;
        if (written > h.size) throw new Error(`tar: ${h.name}: body is longer than the ${h.size} bytes its header says`);
        await this.push(b);
      }
      if (written !== h.size) throw new Error(`tar: ${h.name}: body is ${written} bytes, header says ${h.size}`);
    } else if (h.size !== 0) {
      throw new Error(`tar: ${h.name}: no body for ${h.size} bytes`);
    }
    await this.push(ZEROS.subarray(0, padding(h.size)));
  }

  /**
   * Adds a regular file from disk, reading exactly `header.size` bytes (taken from the file when
   * not given). A file that shrank meanwhile is an error; growth past the size is not read.
   * `file` is a path, or an fd open for reading that stays the caller's to close (a file opened
   * without following symlinks, where a path could be swapped under the reader).
   */
  async addFile(input: TarEntryInput, file: string | number): Promise<void> {
    const path = typeof file === 'number' ? `fd ${file}` : file;
    const fd = typeof file === 'number' ? file : openSync(file, 'r');
    try {
      const size = input.size ?? fstatSync(fd).size;
      const h = TarWriter.header({ ...input, type: 'file', size });
      await this.push(encodeHeader(h));
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) throw new Error(`tar: ${path} shrank while being archived`);
        left -= n;
        await this.push(n === buf.length ? buf : buf.subarray(0, n));
      }
      await this.push(ZEROS.subarray(0, padding(size)));
    } finally {
      if (typeof file !== 'number') closeSync(fd);
    }
  }

  /** Writes the end-of-archive blocks, ends the sink and waits for it to finish. */
  async finish(): Promise<TarWriterResult> {
    if (!this.finished) {
      await this.push(ZEROS);
      this.finished = true;
      const done = once(this.sink, 'finish');
      this.sink.end();
      await done;
    }
    if (this.failure) throw this.failure;
    return { bytes: this.bytes, digest: `sha256:${this.hash.copy().digest('hex')}` };
  }
}
