// The content-addressed blob store: <root>/blobs/sha256/<hex>, each blob written once and never
// changed. Content comes in through a temp file under <root>/tmp/, hashed on the way; only content
// whose digest (and size) is verified is renamed into blobs/, after an fsync, so a reader never
// sees a partial blob and a refused one leaves nothing behind.
import { closeSync, createReadStream, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Descriptor, Digest } from './types.js';
import { Sha256Counter, digestHex } from './digest.js';
import { DigestError, ImageError, NotFoundError } from './errors.js';
import { holderAlive } from './lock.js';
import type { Lease } from './lease.js';

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

const TEMP_PREFIX = 'blob-';

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
    } catch {
      return false;
    }
  }

  /** The blob's size in bytes. */
  size(digest: Digest): number {
    try {
      return statSync(this.path(digest)).size;
    } catch {
      throw new NotFoundError(`blob ${digest}: not in the store`);
    }
  }

  /** Every blob in the store. */
  list(): Digest[] {
    try {
      return readdirSync(this.blobsDir)
        .filter((name) => /^[a-f0-9]{64}$/.test(name))
        .map((hex) => `sha256:${hex}`);
    } catch {
      return [];
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
    } catch {
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
    } catch {
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
    } catch {
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
        fsyncSync(fd);
        mkdirSync(this.blobsDir, { recursive: true, mode: 0o755 });
        renameSync(temp, this.path(digest));
        temp = undefined;
        syncDir(this.blobsDir);
        options.lease?.created.add(digest);
      };
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

  /** Temp files left by processes that died mid-ingest. */
  removeStaleTemps(): number {
    let removed = 0;
    let names: string[];
    try {
      names = readdirSync(this.tmpDir);
    } catch {
      return 0;
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

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
