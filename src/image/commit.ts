// `berth commit`: new layers (tars the storage layer wrote from a container's upper dir) on top
// of an image, stored as a new image whose config extends the parent's rootfs.diff_ids and
// history. Layers are stored as given; their diff_ids are computed (and checked, when given).
import { createReadStream } from 'node:fs';
import type { ContainerConfig, Descriptor, Digest, HistoryEntry, ImageConfig } from '../oci/image-spec.js';
import { MediaType } from '../oci/image-spec.js';
import type { BlobSource } from './blobs.js';
import type { ImageRecord, ImageStore } from './store.js';
import { DigestError } from './errors.js';
import { buildManifest, encodeJSON, layerMediaType } from './manifest.js';
import { blobCompression, inspectLayer } from './layer-check.js';
import { imageLayers } from './layers.js';
import { hostPlatform } from './platform.js';

export interface CommitLayer {
  /** The layer tar (plain, gzip or zstd): a stream, a Buffer, or a file path. */
  source: BlobSource | string;
  /** sha256 of the uncompressed tar, when the writer computed it (TarWriter's digest): checked. */
  diffID?: Digest;
}

export interface CommitOptions {
  /** The image the container was made from (name, id or record); absent for an image from nothing. */
  parent?: string | ImageRecord;
  /** The new image's container defaults; default the parent's (the engine applies --change on top). */
  config?: ContainerConfig;
  /** Bottom first; each gets a history entry (none: one empty_layer entry, when `history` is given). */
  layers: CommitLayer[];
  /** The history entry of the new layers: `created_by`, `comment`, `author` (created is filled in). */
  history?: HistoryEntry;
  author?: string;
  /** Name for the new image; none leaves it unnamed. */
  ref?: string;
  /** Creation time (default now). */
  created?: Date;
  /** A build step's image, kept for the build cache (see ImageRecord.buildCache). */
  buildCache?: boolean;
}

export async function commitImage(store: ImageStore, options: CommitOptions): Promise<ImageRecord> {
  const parent = options.parent !== undefined ? await imageLayers(store, options.parent) : undefined;
  const lease = store.lease();
  try {
    const newLayers: { descriptor: Descriptor; diffID: Digest }[] = [];
    for (const [i, layer] of options.layers.entries()) {
      const what = `commit: layer ${i}`;
      const source = typeof layer.source === 'string' ? createReadStream(layer.source) : layer.source;
      const blob = await store.ingest(source, { lease, what });
      const compression = blobCompression(store, blob.digest, what);
      // A plain tar whose digest is the diff_id its writer computed needs no second reading.
      const diffID = compression === 'none' && layer.diffID === blob.digest ? blob.digest : (await inspectLayer(store, blob.digest, what)).diffID;
      if (layer.diffID !== undefined && layer.diffID !== diffID) throw new DigestError(`${what}: diff_id mismatch: given ${layer.diffID}, the uncompressed layer is ${diffID}`);
      newLayers.push({ descriptor: { mediaType: layerMediaType(compression), digest: blob.digest, size: blob.size }, diffID });
    }
    const created = (options.created ?? new Date()).toISOString();
    const base: ImageConfig = parent !== undefined ? withoutBuildFields(parent.config) : { ...hostPlatformConfig(), rootfs: { type: 'layers', diff_ids: [] } };
    const entry: HistoryEntry = { ...(options.history ?? {}), created, ...(options.author !== undefined ? { author: options.author } : {}) };
    const config: ImageConfig = {
      ...base,
      created,
      ...(options.author !== undefined ? { author: options.author } : {}),
      config: options.config ?? base.config ?? {},
      rootfs: { type: 'layers', diff_ids: [...base.rootfs.diff_ids, ...newLayers.map((l) => l.diffID)] },
      // No layer: a step that changed only the config (a build's ENV, CMD...) has one entry of
      // its own, marked empty_layer, as docker writes it; no layer and no history: none.
      history: [...(base.history ?? []), ...(newLayers.length === 0 ? (options.history !== undefined ? [{ ...entry, empty_layer: true }] : []) : newLayers.map(() => ({ ...entry })))],
    };
    const configDesc = await store.ingest(encodeJSON(config), { mediaType: MediaType.ociConfig, lease, what: 'commit: config' });
    const layers = [...(parent?.layers.map((l) => l.descriptor) ?? []), ...newLayers.map((l) => l.descriptor)];
    const manifestDesc = await store.ingest(encodeJSON(buildManifest(configDesc, layers, undefined, options.buildCache === true)), { mediaType: MediaType.ociManifest, lease, what: 'commit: manifest' });
    const platform = { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
    return store.putImage({ manifest: { ...manifestDesc, platform }, names: options.ref !== undefined ? [options.ref] : [], ...(options.buildCache ? { buildCache: true } : {}) });
  } finally {
    store.endLease(lease);
  }
}

/** Docker's fields that describe the build of the parent, not of this image. */
function withoutBuildFields(config: ImageConfig): ImageConfig {
  const { container: _c, container_config: _cc, docker_version: _dv, author: _a, comment: _cm, ...rest } = config;
  return rest as ImageConfig;
}

function hostPlatformConfig(): Pick<ImageConfig, 'architecture' | 'os' | 'variant'> {
  const p = hostPlatform();
  return { architecture: p.architecture, os: 'linux', ...(p.variant ? { variant: p.variant } : {}) };
}
