// The layer cache: one file per step under <root>/build/cache/, named by the sha256 of what
// decides the step's result — the parent image's id, the instruction with its arguments expanded
// (build args in RUN's environment included), and for COPY/ADD the content hash of the sources —
// holding the id of the image the step made. That image is kept in the store as a build-cache
// image (hidden from `images`); when it is gone (`image prune`), the entry is a miss.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { isMissing } from '../errors.js';
import type { ImageRecord, ImageStore } from '../image/index.js';

export class BuildCache {
  private readonly dir: string;

  constructor(
    root: string,
    private readonly images: ImageStore,
  ) {
    this.dir = join(root, 'build', 'cache');
  }

  static key(parts: unknown[]): string {
    return createHash('sha256').update(JSON.stringify(parts)).digest('hex');
  }

  /** The image a step with this key made, if the store still has it. */
  lookup(key: string): ImageRecord | undefined {
    let id: string;
    try {
      id = readFileSync(join(this.dir, key), 'utf8').trim();
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    return this.images.find(id);
  }

  record(key: string, imageId: string): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(this.dir, key), `${imageId}\n`);
  }
}
