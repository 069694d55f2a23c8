// `berth save [-o FILE] [--format docker|oci] IMAGE...`
import type { Writable } from 'node:stream';
import type { ImageRecord, ImageStore } from '../store.js';
import { saveItems, writeTarTo } from './save-target.js';
import { writeDockerArchive } from './docker-archive-save.js';
import { writeOciArchive } from './oci-archive-save.js';

export type SaveFormat = 'docker' | 'oci';

export interface SaveResult {
  images: ImageRecord[];
  /** Bytes of tar written. */
  bytes: number;
}

/** Writes the images named by `refs` (names, ids or id prefixes) to `out`: a file path or a stream. */
export async function saveArchive(store: ImageStore, refs: string[], out: string | Writable, format: SaveFormat = 'docker'): Promise<SaveResult> {
  const items = saveItems(store, refs);
  const bytes = await writeTarTo(out, (tar) => (format === 'oci' ? writeOciArchive(store, items, tar) : writeDockerArchive(store, items, tar)));
  return { images: items.map((i) => i.record), bytes };
}
