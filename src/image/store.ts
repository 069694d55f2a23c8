// The image store under one root (/var/lib/berth unless BERTH_ROOT or the constructor says
// otherwise):
//   blobs/sha256/<hex>   content, verified on the way in (blobs.ts)
//   tmp/                 content on its way in; partial-<hex> a download to continue (blobs.ts)
//   leases/              what loads in progress hold (lease.ts)
//   images.json          names and manifests of the images (records.ts), under images.lock
// Images are named as docker names them; an image's id is its config's digest.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Descriptor, Digest, ImageManifest } from '../oci/image-spec.js';
import { ContentStore, type BlobSource, type DownloadOptions, type IngestOptions, type RangedOpen } from './blobs.js';
import { createLease, leasedDigests, type Lease } from './lease.js';
import { ImageRecords, type ImageRecord } from './records.js';
import { formatReference, looksLikeImageId, parseReference, type Reference } from './reference.js';
import { ImageError, NotFoundError, InvalidReferenceError } from './errors.js';
import { manifestBlobs, parseManifest } from './manifest.js';
import { withLock } from '../fs/lock.js';
import type { Readable } from 'node:stream';
import { isMissing } from '../errors.js';

export const DEFAULT_ROOT = '/var/lib/berth';

/** BERTH_ROOT, else /var/lib/berth. */
export function defaultRoot(): string {
  return process.env.BERTH_ROOT || DEFAULT_ROOT;
}

export type { ImageRecord } from './records.js';

/** What putImage records. */
export interface NewImage {
  /** The image manifest; its config and layers must be in the store. */
  manifest: Descriptor;
  /** The index it came from, if any (kept, and so protected from collection). */
  index?: Descriptor;
  /** References to give it (moved from any image that has them). */
  names?: string[];
  repoDigests?: string[];
  /** A build step's image, kept for the cache (ImageRecord.buildCache); without it, the mark goes. */
  buildCache?: boolean;
}

export interface RemoveResult {
  /** Names taken off. */
  untagged: string[];
  /** Image ids whose records were deleted. */
  deleted: Digest[];
  /** Blobs removed because no image needed them any more. */
  removedBlobs: Digest[];
}

export interface PruneOptions {
  /** Remove every image not in use, not only dangling (unnamed) ones: `image prune -a`. */
  all?: boolean;
  /** Images that must stay (used by a container): the engine knows. */
  inUse?: (id: Digest) => boolean;
  /** Only images this accepts are removed (docker's prune filters: until, label). */
  match?: (record: ImageRecord) => boolean;
}

export interface PruneResult {
  deletedImages: Digest[];
  /** The names the deleted images had (with `all`). */
  untagged: string[];
  removedBlobs: Digest[];
  reclaimedBytes: number;
}

export interface ImageUsage {
  id: Digest;
  names: string[];
  /** Bytes of all blobs of the image (manifest, config, layers as stored). */
  size: number;
  /** Bytes of those blobs that other images use too. */
  sharedSize: number;
}

export interface DiskUsage {
  images: ImageUsage[];
  /** Bytes of every blob in the store. */
  blobBytes: number;
  blobCount: number;
  /** Bytes of blobs no image references (prune reclaims them, less those being loaded). */
  unreferencedBytes: number;
}

/** What changed an image, for docker's image events (the engine records them): pull, push, tag, untag, delete, import, load. */
export type ImageEventHook = (action: string, id: string, attributes: Record<string, string>) => void;

export class ImageStore {
  readonly content: ContentStore;
  readonly records: ImageRecords;
  readonly leasesDir: string;
  /** Told of each change the store's operations make (the engine sets it). */
  onEvent: ImageEventHook = () => undefined;

  constructor(readonly root: string = defaultRoot()) {
    this.content = new ContentStore(root);
    this.records = new ImageRecords(root);
    this.leasesDir = join(root, 'leases');
  }

  // ---- blobs -------------------------------------------------------------------------------

  has(digest: Digest): boolean {
    return this.content.has(digest);
  }

  size(digest: Digest): number {
    return this.content.size(digest);
  }

  readStream(digest: Digest): Readable {
    return this.content.readStream(digest);
  }

  open(digest: Digest): Readable {
    return this.content.readStream(digest);
  }

  read(digest: Digest): Promise<Buffer> {
    return this.content.read(digest);
  }

  readJSON<T>(digest: Digest): Promise<T> {
    return this.content.readJSON<T>(digest);
  }

  /**
   * Adds content, verified (see ContentStore.ingest). The blob appears under the store's lock, so
   * that a collection running meanwhile either sees the lease that protects it or runs after.
   * Without a lease, a concurrent prune may remove the blob before an image records it.
   */
  ingest(source: BlobSource, options: IngestOptions = {}): Promise<Descriptor> {
    return this.content.ingest(source, {
      ...options,
      beforeCommit: (commit) => withLock(this.records.lockFile, commit),
    });
  }

  /** Downloads a blob of known digest and size (see ContentStore.download), committed as ingest's are. */
  download(expected: { digest: Digest; size: number }, open: RangedOpen, options: DownloadOptions = {}): Promise<Descriptor> {
    return this.content.download(expected, open, {
      ...options,
      beforeCommit: (commit) => withLock(this.records.lockFile, commit),
    });
  }

  /**
   * Removes a blob if no image references it and no load holds it; false otherwise. (Removing a
   * blob an image needs would break the image: use untag/remove and prune for those.)
   */
  delete(digest: Digest): boolean {
    return this.records.locked((images) => {
      if (this.referencedBy(images).has(digest) || leasedDigests(this.leasesDir).has(digest)) return false;
      return this.content.delete(digest);
    });
  }

  // ---- leases ------------------------------------------------------------------------------

  /** A lease for a load, import, commit or pull: pass it to ingest; end it with endLease. */
  lease(): Lease {
    return createLease(this.leasesDir);
  }

  /**
   * Ends a lease: whatever it created that no image references (a failed load's blobs, an
   * archive's extra files) and no other load holds is removed. Returns the removed digests.
   */
  endLease(lease: Lease): Digest[] {
    try {
      return lease.created.size === 0 ? [] : this.removeUnneeded(lease.created, lease);
    } finally {
      lease.release();
    }
  }

  // ---- images ------------------------------------------------------------------------------

  listImages(): ImageRecord[] {
    return this.records.read();
  }

  /**
   * Records an image: its manifest, config and layers must be in the store (checked under the
   * lock, so a collection cannot have taken them). The id is the config's digest; an image with
   * that id already recorded gets the new manifest and the names added. Names are moved from any
   * other image that had them, as docker moves a tag.
   */
  putImage(image: NewImage): ImageRecord {
    const manifest = this.readManifestSync(image.manifest.digest);
    const id = manifest.config.digest;
    const names = (image.names ?? []).map(normalizeName);
    return this.records.update((images) => {
      for (const digest of [image.manifest.digest, ...(image.index ? [image.index.digest] : []), ...manifestBlobs(manifest)]) {
        if (!this.content.has(digest)) throw new ImageError(`image ${id}: blob ${digest} is not in the store`);
      }
      for (const other of images) if (other.id !== id) other.names = other.names.filter((n) => !names.includes(n));
      let record = images.find((r) => r.id === id);
      if (record === undefined) {
        record = { id, manifest: image.manifest, names: [], repoDigests: [], added: new Date().toISOString(), ...(image.buildCache ? { buildCache: true } : {}) };
        images.push(record);
      } else if (!image.buildCache) delete record.buildCache;
      record.manifest = image.manifest;
      if (image.index !== undefined) record.index = image.index;
      for (const n of names) if (!record.names.includes(n)) record.names.push(n);
      for (const d of image.repoDigests ?? []) if (!record.repoDigests.includes(d)) record.repoDigests.push(d);
      return structuredClone(record);
    });
  }

  /**
   * Finds an image as docker does: a reference (`busybox`, `name:tag`, `name@sha256:...`), a full
   * id (`sha256:<64 hex>` or the 64 hex digits), or a unique prefix of an id.
   */
  resolve(text: string): ImageRecord {
    const images = this.records.read();
    const found = findImage(images, text);
    if (found === undefined) throw new NotFoundError(`No such image: ${text}`);
    return found;
  }

  /** Like resolve, or undefined when there is no such image. */
  find(text: string): ImageRecord | undefined {
    return findImage(this.records.read(), text);
  }

  /** Gives the image `source` names the name `target` (moved from another image that had it). */
  tag(source: string, target: string): ImageRecord {
    const name = normalizeName(target);
    if (parseReference(target).digest !== undefined) throw new InvalidReferenceError(`cannot tag with a digest reference: ${target}`);
    const tagged = this.records.update((images) => {
      const record = findImage(images, source);
      if (record === undefined) throw new NotFoundError(`No such image: ${source}`);
      for (const other of images) other.names = other.names.filter((n) => n !== name);
      record.names.push(name);
      return structuredClone(record);
    });
    this.onEvent('tag', tagged.id, { name });
    return tagged;
  }

  /** Takes a name off its image (the image stays, dangling if that was its last name). */
  untag(reference: string): ImageRecord {
    const name = normalizeName(reference);
    const untagged = this.records.update((images) => {
      const record = images.find((r) => r.names.includes(name));
      if (record === undefined) throw new NotFoundError(`No such image: ${reference}`);
      record.names = record.names.filter((n) => n !== name);
      return structuredClone(record);
    });
    this.onEvent('untag', untagged.id, { name });
    return untagged;
  }

  /**
   * `rmi` as docker does it: by name, the name goes and the image with it when that was its last
   * name; by id, the image goes with all its names, which needs `force` when it has more than one.
   * The image's blobs that nothing else needs are removed. The engine checks for containers first.
   */
  remove(text: string, options: { force?: boolean } = {}): RemoveResult {
    const before = this.find(text)?.id;
    let candidates = new Set<Digest>();
    const result = this.records.update((images): RemoveResult => {
      const record = findImage(images, text);
      if (record === undefined) throw new NotFoundError(`No such image: ${text}`);
      const name = tryNormalize(text);
      const byName = name !== undefined && record.names.includes(name);
      if (byName && record.names.length > 1) {
        record.names = record.names.filter((n) => n !== name);
        return { untagged: [name], deleted: [], removedBlobs: [] };
      }
      if (!byName && record.names.length > 1 && options.force !== true) {
        throw new ImageError(`image ${shortId(record.id)} is referenced by ${record.names.length} names (${record.names.join(', ')}): remove them by name, or force`);
      }
      candidates = this.blobsOfImage(record);
      images.splice(images.indexOf(record), 1);
      return { untagged: record.names, deleted: [record.id], removedBlobs: [] };
    });
    if (candidates.size > 0) result.removedBlobs = this.removeUnneeded(candidates);
    const id = result.deleted[0] ?? before ?? '';
    for (const name of result.untagged) this.onEvent('untag', id, { name });
    for (const deleted of result.deleted) this.onEvent('delete', deleted, { name: deleted });
    return result;
  }

  /** Removes dangling images (or all, with `all`) not in use, then every unreferenced blob. */
  prune(options: PruneOptions = {}): PruneResult {
    const untagged: string[] = [];
    const untagEvents: [Digest, string][] = [];
    const deletedImages = this.records.update((images) => {
      const deleted: Digest[] = [];
      for (const record of [...images]) {
        if (!options.all && record.names.length > 0) continue;
        if (options.inUse?.(record.id)) continue;
        if (options.match && !options.match(record)) continue;
        images.splice(images.indexOf(record), 1);
        deleted.push(record.id);
        untagged.push(...record.names);
        for (const name of record.names) untagEvents.push([record.id, name]);
      }
      return deleted;
    });
    for (const [id, name] of untagEvents) this.onEvent('untag', id, { name });
    for (const id of deletedImages) this.onEvent('delete', id, { name: id });
    const { removed, bytes } = this.collect();
    return { deletedImages, untagged, removedBlobs: removed, reclaimedBytes: bytes };
  }

  /** Garbage collection: blobs that no image references and no load holds; stale temp files. */
  collect(): { removed: Digest[]; bytes: number } {
    return this.records.locked((images) => {
      // Listed before the leases are read: a blob that appears later is not a candidate, and one
      // listed was renamed in after its lease was written.
      const blobs = this.content.list();
      const keep = this.referencedBy(images);
      for (const d of leasedDigests(this.leasesDir)) keep.add(d);
      const removed: Digest[] = [];
      let bytes = 0;
      for (const digest of blobs) {
        if (keep.has(digest)) continue;
        const size = safeSize(this.content, digest);
        if (this.content.delete(digest)) {
          removed.push(digest);
          bytes += size;
        }
      }
      this.content.removeStaleTemps();
      return { removed, bytes };
    });
  }

  diskUsage(): DiskUsage {
    const images = this.records.read();
    const blobsOf = images.map((r) => this.blobsOfImage(r));
    const users = new Map<Digest, number>();
    for (const set of blobsOf) for (const d of set) users.set(d, (users.get(d) ?? 0) + 1);
    const all = this.content.list();
    const sizes = new Map(all.map((d) => [d, safeSize(this.content, d)] as const));
    const usage = images.map((r, i): ImageUsage => {
      let size = 0;
      let sharedSize = 0;
      for (const d of blobsOf[i]!) {
        const s = sizes.get(d) ?? 0;
        size += s;
        if ((users.get(d) ?? 0) > 1) sharedSize += s;
      }
      return { id: r.id, names: [...r.names], size, sharedSize };
    });
    let blobBytes = 0;
    let unreferencedBytes = 0;
    for (const [d, s] of sizes) {
      blobBytes += s;
      if (!users.has(d)) unreferencedBytes += s;
    }
    return { images: usage, blobBytes, blobCount: all.length, unreferencedBytes };
  }

  /** The image manifest of a record (or of a manifest digest). */
  async manifest(record: ImageRecord): Promise<ImageManifest> {
    return parseManifest(await this.content.read(record.manifest.digest), `manifest ${record.manifest.digest}`);
  }

  // ---- helpers -----------------------------------------------------------------------------

  private readManifestSync(digest: Digest): ImageManifest {
    let data: Buffer;
    try {
      data = readFileSync(this.content.path(digest));
    } catch (err) {
      if (!isMissing(err)) throw err;
      throw new NotFoundError(`manifest ${digest}: not in the store`);
    }
    return parseManifest(data, `manifest ${digest}`);
  }

  /** Every blob an image needs: its manifest, the index it came from, config and layers. */
  private blobsOfImage(record: ImageRecord): Set<Digest> {
    const set = new Set<Digest>([record.manifest.digest, record.id]);
    if (record.index !== undefined) set.add(record.index.digest);
    try {
      for (const d of manifestBlobs(this.readManifestSync(record.manifest.digest))) set.add(d);
    } catch {
      // A damaged image (manifest gone) keeps what it names; its layers cannot be known.
    }
    return set;
  }

  private referencedBy(images: ImageRecord[]): Set<Digest> {
    const set = new Set<Digest>();
    for (const r of images) for (const d of this.blobsOfImage(r)) set.add(d);
    return set;
  }

  /** Removes those of `candidates` that no image references and no other lease holds. */
  private removeUnneeded(candidates: Iterable<Digest>, except?: Lease): Digest[] {
    return this.records.locked((images) => {
      const keep = this.referencedBy(images);
      for (const d of leasedDigests(this.leasesDir, except)) keep.add(d);
      const removed: Digest[] = [];
      for (const digest of candidates) if (!keep.has(digest) && this.content.delete(digest)) removed.push(digest);
      return removed;
    });
  }
}

function safeSize(content: ContentStore, digest: Digest): number {
  try {
    return content.size(digest);
  } catch (err) {
    // A blob a damaged image names but the store lost takes no room.
    if (!(err instanceof NotFoundError)) throw err;
    return 0;
  }
}

/** `sha256:0123456789ab` → `0123456789ab`, as docker prints ids. */
export function shortId(id: Digest): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function normalizeName(text: string): string {
  return formatReference(parseReference(text));
}

/** The normalized name `text` is, or undefined when it is not a reference (an id, an id prefix). */
export function tryNormalize(text: string): string | undefined {
  try {
    return normalizeName(text);
  } catch (err) {
    // Not a reference (an id, an id prefix): the caller tries those next.
    if (!(err instanceof InvalidReferenceError)) throw err;
    return undefined;
  }
}

/** docker's order: a full id; a reference; a unique id prefix. */
export function findImage(images: ImageRecord[], text: string): ImageRecord | undefined {
  const full = /^(?:sha256:)?([a-f0-9]{64})$/.exec(text);
  if (full !== null) {
    const byId = images.find((r) => r.id === `sha256:${full[1]}`);
    if (byId !== undefined || text.startsWith('sha256:')) return byId;
  }
  let ref: Reference | undefined;
  try {
    ref = parseReference(text);
  } catch (err) {
    if (!looksLikeImageId(text)) throw err;
  }
  if (ref !== undefined) {
    const byName = findByReference(images, ref);
    if (byName !== undefined) return byName;
  }
  if (!looksLikeImageId(text)) return undefined;
  const prefix = text.startsWith('sha256:') ? text : `sha256:${text}`;
  const matches = images.filter((r) => r.id.startsWith(prefix));
  if (matches.length > 1) throw new ImageError(`image id prefix ${text} is ambiguous: ${matches.map((r) => shortId(r.id)).join(', ')}`);
  return matches[0];
}

function findByReference(images: ImageRecord[], ref: Reference): ImageRecord | undefined {
  if (ref.digest !== undefined) {
    const repository = `${ref.domain}/${ref.path}`;
    return (
      images.find((r) => r.repoDigests.includes(`${repository}@${ref.digest}`) || r.names.includes(`${repository}@${ref.digest}`)) ??
      images.find((r) => r.manifest.digest === ref.digest || r.index?.digest === ref.digest)
    );
  }
  const name = formatReference(ref);
  return images.find((r) => r.names.includes(name));
}
