// The image records: <root>/images.json, which names each image and says which manifest lists its
// layers. Several berth processes change it at once (load, tag, rmi, pull), so every change is a
// read-modify-write under <root>/images.lock, written to a temp file, fsynced and renamed: a
// reader without the lock sees the old file or the new one, never a part.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Descriptor, Digest } from '../oci/image-spec.js';
import { ImageError } from './errors.js';
import { withLock } from '../fs/lock.js';

export interface ImageRecord {
  /** The image id, as docker shows it: the digest of the image config. */
  id: Digest;
  /** The image manifest (OCI or Docker schema2) that lists the layers; `platform` when known. */
  manifest: Descriptor;
  /** The index (or manifest list) the manifest was chosen from, kept for `RepoDigests` and push. */
  index?: Descriptor;
  /** Normalised references naming the image: `docker.io/library/busybox:latest`. Empty: dangling. */
  names: string[];
  /** `repository@manifest-digest` as a registry knows the image (docker's RepoDigests). */
  repoDigests: string[];
  /** When the image entered this store (ISO 8601). */
  added: string;
  /**
   * A step of a build, kept as the build cache (docker's intermediate images): `images` lists it
   * only with -a; an image recorded again without the mark (a build's result) loses it.
   */
  buildCache?: boolean;
}

interface RecordsFile {
  version: 1;
  images: ImageRecord[];
}

export class ImageRecords {
  readonly file: string;
  readonly lockFile: string;

  constructor(readonly root: string) {
    this.file = join(root, 'images.json');
    this.lockFile = join(root, 'images.lock');
  }

  /** The records as last written; no lock needed. */
  read(): ImageRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let parsed: RecordsFile;
    try {
      parsed = JSON.parse(text) as RecordsFile;
    } catch (err) {
      throw new ImageError(`${this.file}: malformed JSON (${(err as Error).message})`);
    }
    if (parsed.version !== 1 || !Array.isArray(parsed.images)) throw new ImageError(`${this.file}: not a berth image list (version ${String(parsed.version)})`);
    return parsed.images;
  }

  /** Runs `fn` under the lock; whatever it leaves in `images` is written back if it returns normally. */
  update<T>(fn: (images: ImageRecord[]) => T): T {
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    return withLock(this.lockFile, () => {
      const images = this.read();
      const before = JSON.stringify(images);
      const result = fn(images);
      if (JSON.stringify(images) !== before) this.write(images);
      return result;
    });
  }

  /** Runs `fn` under the lock without writing (collection reads the records and deletes blobs). */
  locked<T>(fn: (images: ImageRecord[]) => T): T {
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    return withLock(this.lockFile, () => fn(this.read()));
  }

  private write(images: ImageRecord[]): void {
    const body: RecordsFile = { version: 1, images };
    writeFileAtomic(this.file, `${JSON.stringify(body, null, 2)}\n`);
  }
}
