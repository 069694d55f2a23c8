// What an image archive holds, whatever it comes as: a tar stream read once (docker save, an OCI
// archive, maybe gzip-compressed) or a directory (an OCI layout, an unpacked docker save). Loaders
// ask it for small metadata files by name and for blobs, which go into the store verified, under
// the load's lease, so that a failed load can take back what it added.
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { decompressedStream, normalizeMemberName, readTar } from '../../tar/index.js';
import type { Descriptor } from '../../oci/image-spec.js';
import type { ImageStore } from '../store.js';
import type { Lease } from '../lease.js';
import { ImageError } from '../errors.js';
import { isMissing } from '../../errors.js';

export interface ArchiveContents {
  /** Named in errors: the file, or `standard input`. */
  readonly label: string;
  /** Does the archive have a file by this name? */
  exists(name: string): boolean;
  /** A small file's content (metadata: manifest.json, index.json, a config). */
  file(name: string): Promise<Buffer>;
  /** A file as a blob in the store (ingested now, or when the archive was read); verified by its name when that is `blobs/sha256/<hex>`. */
  blob(name: string): Promise<Descriptor>;
}

/** Files up to this size outside blobs/ are kept in memory while a tar is read: metadata. */
const SMALL_FILE = 8 * 1024 * 1024;
const MAX_LINKS = 40;

/** `blobs/sha256/<hex>` → `sha256:<hex>`; other algorithms refused; undefined for other names. */
export function blobNameDigest(name: string, label: string): string | undefined {
  const m = /^blobs\/([^/]+)\/([^/]+)$/.exec(name);
  if (m === null) return undefined;
  if (m[1] !== 'sha256') throw new ImageError(`${label}: ${name}: unsupported digest algorithm ${m[1]} (berth keeps sha256)`);
  if (!/^[a-f0-9]{64}$/.test(m[2]!)) throw new ImageError(`${label}: ${name}: not a sha256 blob name`);
  return `sha256:${m[2]}`;
}

function cleanName(name: string): string {
  return posix.normalize(normalizeMemberName(name)).replace(/\/+$/, '');
}

/**
 * Reads a whole tar stream (plain or compressed) once. Blobs (`blobs/sha256/...`, and any large
 * file such as a docker `layer.tar`) are ingested on the way; small files are kept in memory.
 */
export async function readArchiveStream(store: ImageStore, input: Readable, label: string, lease: Lease): Promise<ArchiveContents> {
  const contents = new TarContents(store, label, lease);
  try {
    await contents.read(input);
  } catch (err) {
    if (err instanceof ImageError) throw err;
    // tar and zlib errors: name the archive.
    throw new ImageError(`${label}: ${(err as Error).message}`);
  }
  return contents;
}

class TarContents implements ArchiveContents {
  private readonly small = new Map<string, Buffer>();
  private readonly ingested = new Map<string, Descriptor>();
  /** Symlinks and hardlinks: docker save links a layer.tar that two images share. */
  private readonly links = new Map<string, string>();

  constructor(
    private readonly store: ImageStore,
    readonly label: string,
    private readonly lease: Lease,
  ) {}

  async read(input: Readable): Promise<void> {
    for await (const entry of readTar(decompressedStream(input))) {
      const name = cleanName(entry.header.name);
      const { type } = entry.header;
      if (name.startsWith('../') || name === '..') throw new ImageError(`${this.label}: entry ${JSON.stringify(entry.header.name)} points outside the archive`);
      if (type === 'symlink') this.links.set(name, cleanName(posix.join(posix.dirname(name), entry.header.linkname)));
      else if (type === 'hardlink') this.links.set(name, cleanName(entry.header.linkname));
      if (type !== 'file') continue;
      const digest = blobNameDigest(name, this.label);
      if (digest === undefined && entry.header.size <= SMALL_FILE) {
        this.small.set(name, await entry.buffer());
        continue;
      }
      const expected = digest !== undefined ? { expected: { digest, size: entry.header.size } } : {};
      this.ingested.set(name, await this.store.ingest(entry.body, { ...expected, lease: this.lease, what: `${this.label}: ${name}` }));
    }
  }

  private resolve(name: string): string {
    let n = cleanName(name);
    for (let i = 0; this.links.has(n); i += 1) {
      if (i > MAX_LINKS) throw new ImageError(`${this.label}: ${name}: too many levels of links`);
      n = this.links.get(n)!;
    }
    return n;
  }

  exists(name: string): boolean {
    const n = this.resolve(name);
    return this.small.has(n) || this.ingested.has(n);
  }

  async file(name: string): Promise<Buffer> {
    const n = this.resolve(name);
    const data = this.small.get(n);
    if (data !== undefined) return data;
    const blob = this.ingested.get(n);
    if (blob === undefined) throw new ImageError(`${this.label}: ${name}: missing from the archive`);
    return this.store.read(blob.digest);
  }

  async blob(name: string): Promise<Descriptor> {
    const n = this.resolve(name);
    const known = this.ingested.get(n);
    if (known !== undefined) return known;
    const data = this.small.get(n);
    if (data === undefined) throw new ImageError(`${this.label}: ${name}: missing from the archive`);
    const digest = blobNameDigest(n, this.label);
    const expected = digest !== undefined ? { expected: { digest, size: data.length } } : {};
    const desc = await this.store.ingest(data, { ...expected, lease: this.lease, what: `${this.label}: ${name}` });
    this.ingested.set(n, desc);
    return desc;
  }
}

/** A directory: an OCI layout, or a docker save unpacked. Blobs are ingested when asked for. */
export function readArchiveDirectory(store: ImageStore, dir: string, lease: Lease): ArchiveContents {
  const label = dir;
  const pathOf = (name: string): string => {
    const n = cleanName(name);
    if (n === '..' || n.startsWith('../') || posix.isAbsolute(n)) throw new ImageError(`${label}: ${name}: points outside the directory`);
    return join(dir, n);
  };
  const ingested = new Map<string, Descriptor>();
  return {
    label,
    exists: (name) => {
      try {
        return statSync(pathOf(name)).isFile();
      } catch (err) {
        if (!isMissing(err)) throw err;
        return false;
      }
    },
    file: async (name) => {
      try {
        return readFileSync(pathOf(name));
      } catch (err) {
        if (!isMissing(err)) throw err;
        throw new ImageError(`${label}: ${name}: missing`);
      }
    },
    blob: async (name) => {
      const n = cleanName(name);
      const known = ingested.get(n);
      if (known !== undefined) return known;
      let size: number;
      try {
        size = statSync(pathOf(n)).size;
      } catch (err) {
        if (!isMissing(err)) throw err;
        throw new ImageError(`${label}: ${name}: missing`);
      }
      const digest = blobNameDigest(n, label);
      const desc = await store.ingest(createReadStream(pathOf(n)), { ...(digest ? { expected: { digest, size } } : {}), lease, what: `${label}: ${name}` });
      ingested.set(n, desc);
      return desc;
    },
  };
}
