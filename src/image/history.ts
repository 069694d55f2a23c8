// An image's history as `docker history` shows it: the config's history entries, newest first,
// each with the size of the layer it made (none for a config-only step). Only the newest entry
// is the image itself; the others are `<missing>`, as docker shows steps with no image of their
// own in the store.
import type { Digest } from '../oci/image-spec.js';
import { imageLayers } from './layers.js';
import { familiarName, parseReference } from './reference.js';
import type { ImageRecord, ImageStore } from './store.js';

export interface HistoryEntry {
  /** The image id for the newest entry, `<missing>` for the others. */
  id: Digest | '<missing>';
  /** ISO 8601, or undefined when the entry has none. */
  created?: string;
  createdBy: string;
  comment: string;
  /** Bytes of the layer this step made, as stored (0 for a step that made none). */
  size: number;
  /** The image's names (familiar) on the newest entry. */
  tags: string[];
  emptyLayer: boolean;
}

export async function imageHistory(store: ImageStore, text: string | ImageRecord): Promise<HistoryEntry[]> {
  const { record, config, layers } = await imageLayers(store, text);
  const history = config.history ?? [];
  // Each non-empty entry made the next layer, bottom first; an image without history lists its layers.
  const entries = history.length > 0 ? history : layers.map(() => ({}) as NonNullable<typeof config.history>[number]);
  let layer = 0;
  const out: HistoryEntry[] = entries.map((h) => {
    const empty = h.empty_layer === true;
    const size = empty ? 0 : (layers[layer++]?.descriptor.size ?? 0);
    return { id: '<missing>', created: h.created, createdBy: h.created_by ?? '', comment: h.comment ?? '', size, tags: [], emptyLayer: empty };
  });
  out.reverse();
  if (out.length > 0) {
    out[0]!.id = record.id;
    out[0]!.tags = record.names.map((n) => familiarName(parseReference(n)));
  }
  return out;
}
