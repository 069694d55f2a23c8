// The content-addressed blob store: <root>/blobs/sha256/<hex>, each blob written once and never
// changed. Content comes in through a temp file under <root>/tmp/, hashed on the way; only content
// whose digest (and size) is verified is renamed into blobs/, after an fsync, so a reader never
// sees a partial blob and a refused one leaves nothing behind.
// Downloads of a known blob (a pull's layers) go through tmp/partial-<hex> instead, under the lock
// tmp/partial-<hex>.lock: a download cut short (the process killed, the network gone) leaves its
// bytes there, and the next download of that blob, in any process, continues after them.
import { closeSync, createReadStream, fstatSync, fsync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Descriptor, Digest } from '../oci/image-spec.js';
import { Sha256Counter, digestHex } from './digest.js';
import { DigestError, ImageError, NotFoundError } from './errors.js';
import { holderAlive, tryAcquireLock } from '../fs/lock.js';
import { KernelError } from '../kernel/errors.js';
import { native, type NativeHash } from '../kernel/native.js';
import type { Lease } from './lease.js';
import { isMissing } from '../errors.js';

export type BlobSource = Readable | Buffer | AsyncIterable<Buffer | Uint8Array>;

export interface IngestOptions {
  /** What the content must be: a different digest or size is refused. */
  expected?: { digest?: Digest; size?: number };
  /** For the returned descriptor (default application/octet-stream). */
  mediaType?: string;
  /** Protects the blob from garbage collection until the caller records it in an image. */
  lease?: Lease;
  /** Named in errors: `layer 2 of archive x.tar`. */
  what?: string;
  /**
   * Runs once the content is hashed and verified, before the blob is visible: the place for a
   * caller's own critical section (the store takes its lock here to close a race with collection).
   */
  beforeCommit?: (commit: () => void) => void;
}

/** A download's bytes from some offset on, as a registry sends them. */
export interface RangedSource {
  /** Where `batches` begins: the offset asked for, or 0 when the server sends the whole blob. */
  start: number;
  /** The content, in batches of chunks (each batch one writev). */
  batches: AsyncIterable<Buffer[]>;
  /** Ends the transfer when the batches are not read to their end. */
  cancel(): void;
}

/** A download's source: the blob's bytes from `offset` on. */
export type RangedOpen = (offset: number) => Promise<RangedSource>;

export interface DownloadOptions {
  mediaType?: string;
  lease?: Lease;
  what?: string;
  beforeCommit?: (commit: () => void) => void;
  /** Told where the download continues from (0, or the bytes a partial download left). */
  onStart?: (offset: number) => void;
  signal?: AbortSignal;
}

const TEMP_PREFIX = 'blob-';
const PARTIAL_PREFIX = 'partial-';
const fsyncAsync = promisify(fsync);

export class ContentStore {
  readonly blobsDir: string;
  readonly tmpDir: string;

  constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.tmpDir = join(root, 'tmp');
  }

  path(digest: Digest): string {
    return join(this.blobsDir, digestHex(digest));
  }

  has(digest: Digest): boolean {
    try {
      return statSync(this.path(digest)).isFile();
    } catch (err) {
      if (!isMissing(err)) throw err;
      return false;
    }
  }

  /** The blob's size in bytes. */
  size(digest: Digest): number {
    try {
      return statSync(this.path(digest)).size;
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new NotFoundError(`blob ${digest}: not in the store`);
    }
  }

  /** Every blob in the store. */
  list(): Digest[] {
    try {
      return readdirSync(this.blobsDir)
        .filter((name) => /^[a-f0-9]{64}$/.test(name))
        .map((hex) => `sha256:${hex}`);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no blobs directory yet: an empty store
    }
  }

  /**
   * A stream of the blob. The file is opened now, so a missing blob throws here, and a blob
   * deleted while it is read is still read whole.
   */
  readStream(digest: Digest): Readable {
    let fd: number;
    try {
      fd = openSync(this.path(digest), 'r');
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new NotFoundError(`blob ${digest}: not in the store`);
    }
    return createReadStream('', { fd });
  }

  /** Same as readStream: `open` is the name containerd gives it. */
  open(digest: Digest): Readable {
    return this.readStream(digest);
  }

  async read(digest: Digest): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new NotFoundError(`blob ${digest}: not in the store`);
    }
  }

  async readJSON<T>(digest: Digest): Promise<T> {
    const data = await this.read(digest);
    try {
      return JSON.parse(data.toString('utf8')) as T;
    } catch (err) {
      throw new ImageError(`blob ${digest}: malformed JSON (${(err as Error).message})`);
    }
  }

  /** Removes a blob; false when it was not there. Callers decide that nothing needs it. */
  delete(digest: Digest): boolean {
    try {
      rmSync(this.path(digest));
      return true;
    } catch (err) {
      if (!isMissing(err)) throw err;
      return false;
    }
  }

  /**
   * Streams `source` into the store and returns its descriptor. The content is hashed on the way
   * in; with `expected`, a different digest or size is refused (DigestError) and nothing stays.
   * Content already present is hashed and checked, not written again.
   */
  async ingest(source: BlobSource, options: IngestOptions = {}): Promise<Descriptor> {
    const what = options.what ?? 'blob';
    const expectedDigest = options.expected?.digest;
    const expectedSize = options.expected?.size;
    if (expectedDigest !== undefined) digestHex(expectedDigest, `${what}: expected digest`);
    if (expectedSize !== undefined && (!Number.isSafeInteger(expectedSize) || expectedSize < 0)) {
      throw new ImageError(`${what}: expected size ${expectedSize} is not a size`);
    }
    if (expectedDigest !== undefined) options.lease?.add(expectedDigest);
    // Known content that is already here needs hashing (to refuse a wrong copy), not writing.
    const write = expectedDigest === undefined || !this.has(expectedDigest);
    const counter = new Sha256Counter();
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        counter.update(chunk);
        if (expectedSize !== undefined && counter.size > expectedSize) {
          done(new DigestError(`${what}: more than the expected ${expectedSize} bytes${expectedDigest ? ` of ${expectedDigest}` : ''}`));
          return;
        }
        done(null, chunk);
      },
    });
    const input = Buffer.isBuffer(source) ? Readable.from([source]) : source;
    let temp: string | undefined;
    let fd: number | undefined;
    try {
      if (write) {
        mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
        temp = join(this.tmpDir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
        fd = openSync(temp, 'wx', 0o644);
        await pipeline(input, hashing, fdWriter(fd));
      } else {
        await pipeline(input, hashing, new Writable({ write: (_chunk, _encoding, done) => done() }));
      }
      const digest = counter.digest();
      if (expectedDigest !== undefined && digest !== expectedDigest) {
        throw new DigestError(`${what}: digest mismatch: expected ${expectedDigest}, got ${digest}`);
      }
      if (expectedSize !== undefined && counter.size !== expectedSize) {
        throw new DigestError(`${what} ${digest}: size mismatch: expected ${expectedSize} bytes, got ${counter.size}`);
      }
      options.lease?.add(digest);
      const commit = (): void => {
        if (this.has(digest)) {
          const stored = this.size(digest);
          if (stored !== counter.size) throw new ImageError(`blob ${digest} in the store has ${stored} bytes, its content ${counter.size}: the store is damaged`);
          return;
        }
        if (temp === undefined || fd === undefined) {
          // Present when we started, gone now (collected meanwhile): the content went by unsaved.
          throw new ImageError(`${what} ${digest}: removed from the store while it was being added; try again`);
        }
        mkdirSync(this.blobsDir, { recursive: true, mode: 0o755 });
        renameSync(temp, this.path(digest));
        temp = undefined;
        syncDir(this.blobsDir);
        options.lease?.created.add(digest);
      };
      // The content is on disk before its name says it is a blob: a crash can lose a blob, never
      // leave a wrong one. Off the event loop, so that other downloads go on meanwhile.
      if (fd !== undefined) await fsyncAsync(fd);
      if (options.beforeCommit !== undefined) options.beforeCommit(commit);
      else commit();
      return { mediaType: options.mediaType ?? 'application/octet-stream', digest, size: counter.size };
    } catch (err) {
      if (!Buffer.isBuffer(source) && source instanceof Readable && !source.destroyed) source.destroy();
      throw err;
    } finally {
      if (fd !== undefined) closeSync(fd);
      if (temp !== undefined) rmSync(temp, { force: true });
    }
  }

  /**
   * Downloads a blob whose digest and size are known, continuing a partial download of it that an
   * earlier process left. One download of a blob at a time: another process (or task) downloading
   * it is waited for, and its result used. The whole content is verified, the partial's bytes
   * included; when a continued download does not verify, the partial is not trusted and the blob
   * is fetched again from byte 0. A wrong blob leaves nothing behind; a download broken off by
   * the network keeps its bytes for the next try (an abort, or a content error, removes them).
   */
  async download(expected: { digest: Digest; size: number }, open: RangedOpen, options: DownloadOptions = {}): Promise<Descriptor> {
    const what = options.what ?? 'blob';
    const hex = digestHex(expected.digest, `${what}: expected digest`);
    const descriptor: Descriptor = { mediaType: options.mediaType ?? 'application/octet-stream', digest: expected.digest, size: expected.size };
    options.lease?.add(expected.digest);
    if (this.has(expected.digest)) return descriptor;
    mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    const partial = join(this.tmpDir, `${PARTIAL_PREFIX}${hex}`);
    const release = await lockDownload(`${partial}.lock`, () => this.has(expected.digest), options.signal);
    if (release === undefined) return descriptor;
    try {
      if (this.has(expected.digest)) return descriptor;
      for (let fromScratch = false; ; fromScratch = true) {
        const fd = openSync(partial, 'a+', 0o644);
        let keep = true;
        try {
          let have = fstatSync(fd).size;
          if (fromScratch || have > expected.size) {
            ftruncateSync(fd, 0);
            have = 0;
          }
          const source = have < expected.size ? await open(have) : undefined;
          if (source !== undefined && source.start !== have) {
            // The server sent the blob from its start: what it sends replaces what we had.
            ftruncateSync(fd, 0);
            have = 0;
          }
          const start = have;
          options.onStart?.(start);
          const { digest, size } = await writeAll(fd, start, source, expected, what);
          if (digest !== expected.digest || size !== expected.size) {
            if (start > 0) continue; // the partial was bad (or another blob's): again from byte 0
            keep = false;
            if (digest !== expected.digest) throw new DigestError(`${what}: digest mismatch: expected ${expected.digest}, got ${digest}`);
            throw new DigestError(`${what} ${digest}: size mismatch: expected ${expected.size} bytes, got ${size}`);
          }
          // Durable before it is named (a crash can lose a blob, never leave a wrong one visible),
          // and off the event loop, so that the other layers keep downloading meanwhile. (Dropping
          // the fsync was measured: no difference on a 336 MB pull here; it is not the cost.)
          await fsyncAsync(fd);
          const commit = (): void => {
            mkdirSync(this.blobsDir, { recursive: true, mode: 0o755 });
            renameSync(partial, this.path(expected.digest));
            syncDir(this.blobsDir);
            options.lease?.created.add(expected.digest);
          };
          if (options.beforeCommit !== undefined) options.beforeCommit(commit);
          else commit();
          return descriptor;
        } catch (err) {
          if (err instanceof DigestError || options.signal?.aborted) keep = false;
          throw err;
        } finally {
          const empty = fstatSync(fd).size === 0;
          closeSync(fd);
          if (!keep || empty) rmSync(partial, { force: true });
        }
      }
    } finally {
      release();
    }
  }

  /** Temp files left by processes that died mid-ingest, and partial downloads nobody continues. */
  removeStaleTemps(): number {
    let removed = 0;
    let names: string[];
    try {
      names = readdirSync(this.tmpDir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return 0;
    }
    // A partial download nobody holds the lock of is kept for a later pull to continue, until a
    // collection: then it goes, with the lock file a killed downloader left.
    const partials = new Set(names.filter((n) => n.startsWith(PARTIAL_PREFIX)).map((n) => n.replace(/\.lock$/, '')));
    for (const partial of partials) {
      const release = tryAcquireLock(join(this.tmpDir, `${partial}.lock`));
      if (release === undefined) continue; // being downloaded now
      try {
        rmSync(join(this.tmpDir, partial), { force: true });
      } finally {
        release();
      }
      removed += 1;
    }
    for (const name of names) {
      const pid = /^blob-(\d+)-/.exec(name)?.[1];
      if (pid === undefined || holderAlive(pid)) continue;
      rmSync(join(this.tmpDir, name), { force: true });
      removed += 1;
    }
    return removed;
  }
}

/**
 * A Writable onto an fd it does not own (no close on end or error: the caller closes it). Writes
 * are synchronous on purpose: when a pipeline fails, the caller closes the fd at once, and an
 * asynchronous write still queued would then land in whatever file reuses that fd number next.
 */
function fdWriter(fd: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        for (let offset = 0; offset < chunk.length; ) offset += writeSync(fd, chunk, offset, chunk.length - offset);
        done();
      } catch (err) {
        done(err as Error);
      }
    },
  });
}

/**
 * Appends `source`'s batches to `fd` (which holds `prefix` bytes already) and hashes the whole
 * file. Each batch is written and then hashed by one job in the thread pool (native/digest.c), one
 * job at a time (the order is kept), while the main thread receives the next: it only receives
 * (hashing here too made it the pull's bottleneck, issue 17). More than the expected size is
 * refused as soon as it arrives.
 */
async function writeAll(fd: number, prefix: number, source: RangedSource | undefined, expected: { digest: Digest; size: number }, what: string): Promise<{ digest: Digest; size: number }> {
  // A worktree whose addon was built before native/digest.c: say how to mend it, not "not a function".
  if (typeof native.writevHash !== 'function') throw new ImageError('build/Release/berth_native.node predates this berth (no writevHash): rebuild it with npm run install');
  const hash = native.sha256New();
  let size = hashPrefix(fd, prefix, hash);
  let writing: Promise<void> = Promise.resolve();
  try {
    if (source !== undefined) {
      for await (const batch of source.batches) {
        for (const chunk of batch) size += chunk.length;
        if (size > expected.size) throw new DigestError(`${what}: more than the expected ${expected.size} bytes of ${expected.digest}`);
        await writing;
        writing = writevHash(fd, batch, hash, what);
      }
    }
    await writing;
    return { digest: `sha256:${native.sha256Digest(hash)}`, size };
  } catch (err) {
    source?.cancel();
    // The caller closes the fd next: no write of ours may still be queued on it then.
    await writing.catch(() => {});
    throw err;
  }
}

/** Hashes the first `length` bytes of the file `fd` (what an earlier download left); returns `length`. */
function hashPrefix(fd: number, length: number, hash: NativeHash): number {
  const buf = Buffer.allocUnsafe(Math.min(length, 1024 * 1024));
  for (let done = 0; done < length; ) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, length - done), done);
    if (n === 0) throw new ImageError(`partial download: shorter than ${length} bytes`);
    native.sha256Update(hash, buf.subarray(0, n));
    done += n;
  }
  return length;
}

/** All of `buffers` appended to `fd`, then added to `hash`, in the thread pool. */
function writevHash(fd: number, buffers: Buffer[], hash: NativeHash, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    native.writevHash(fd, buffers, hash, (errno) => (errno === 0 ? resolve() : reject(new KernelError(`write ${what}`, errno))));
  });
}

/**
 * The download lock of a blob, waited for without blocking (a download takes long): undefined
 * when `done()` says the blob arrived meanwhile (the holder finished it).
 */
async function lockDownload(path: string, done: () => boolean, signal?: AbortSignal): Promise<(() => void) | undefined> {
  for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
    const release = tryAcquireLock(path);
    if (release !== undefined) return release;
    if (done()) return undefined;
    await sleep(wait, undefined, { signal });
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
