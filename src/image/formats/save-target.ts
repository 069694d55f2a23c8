// What `berth save` writes out: the images asked for, each with the names it was asked by (as
// docker does: an image saved by id carries no name), and the tar the archive is written as.
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import { TarWriter } from '../../tar/index.js';
import type { ImageRecord, ImageStore } from '../store.js';
import type { Digest } from '../../oci/image-spec.js';
import { formatReference, parseReference } from '../reference.js';
import { ImageError, InvalidReferenceError } from '../errors.js';

export interface SaveItem {
  record: ImageRecord;
  /** Normalised names to write for it (may be none). */
  names: string[];
}

/** Resolves the references, grouping names by image, in the order given. */
export function saveItems(store: ImageStore, refs: string[]): SaveItem[] {
  if (refs.length === 0) throw new ImageError('save: no image given');
  const items = new Map<Digest, SaveItem>();
  for (const ref of refs) {
    const record = store.resolve(ref);
    let name: string | undefined;
    try {
      const normal = formatReference(parseReference(ref));
      if (record.names.includes(normal)) name = normal;
    } catch (err) {
      // Not a reference: an id or an id prefix, which names no tag to save.
      if (!(err instanceof InvalidReferenceError)) throw err;
    }
    const item = items.get(record.id) ?? { record, names: [] };
    if (name !== undefined && !item.names.includes(name)) item.names.push(name);
    items.set(record.id, item);
  }
  return [...items.values()];
}

/**
 * Runs `write` with a TarWriter on `out`: a path (written beside it and renamed into place at the
 * end, so a failed save leaves no partial file) or a stream (stdout).
 */
export async function writeTarTo(out: string | Writable, write: (tar: TarWriter) => Promise<void>): Promise<number> {
  if (typeof out !== 'string') {
    const tar = new TarWriter(out);
    await write(tar);
    return (await tar.finish()).bytes;
  }
  const temp = `${out}.berth-${process.pid}-${randomBytes(4).toString('hex')}`;
  const file = createWriteStream(temp, { flags: 'wx', mode: 0o644 });
  try {
    await once(file, 'open');
    const tar = new TarWriter(file);
    await write(tar);
    const { bytes } = await tar.finish();
    renameSync(temp, out);
    return bytes;
  } catch (err) {
    file.destroy();
    rmSync(temp, { force: true });
    throw err;
  }
}

/** Directory entries, then one blob a file under blobs/sha256/, each written once. */
export class BlobWriter {
  private readonly written = new Set<Digest>();
  private dirs = false;

  constructor(
    private readonly store: ImageStore,
    private readonly tar: TarWriter,
  ) {}

  async add(digest: Digest): Promise<string> {
    const name = `blobs/sha256/${digest.slice('sha256:'.length)}`;
    if (this.written.has(digest)) return name;
    if (!this.dirs) {
      await this.tar.add({ name: 'blobs/', type: 'dir' });
      await this.tar.add({ name: 'blobs/sha256/', type: 'dir' });
      this.dirs = true;
    }
    const size = this.store.size(digest);
    await this.tar.add({ name, type: 'file', size, mode: 0o644 }, this.store.readStream(digest));
    this.written.add(digest);
    return name;
  }
}
