// An image's layers in order, with what the storage layer keys them by: the diff_id (digest of
// the uncompressed tar) and the chain id (the digest of the stack up to and including it).
import type { Compression, Descriptor, Digest, ImageConfig, ImageManifest } from '../oci/image-spec.js';
import type { ImageRecord, ImageStore } from './store.js';
import { chainIDs } from './digest.js';
import { ImageError } from './errors.js';
import { layerCompression, parseConfig } from './manifest.js';

export interface ImageLayer {
  /** The layer blob as stored (maybe compressed). */
  descriptor: Descriptor;
  compression: Compression;
  /** sha256 of the uncompressed tar (config rootfs.diff_ids[i]). */
  diffID: Digest;
  /** chainID(i) = sha256(chainID(i-1) + " " + diffID(i)); chainID(0) = diffID(0). */
  chainID: Digest;
}

export interface ResolvedImage {
  record: ImageRecord;
  manifest: ImageManifest;
  config: ImageConfig;
  layers: ImageLayer[];
}

/** The image named by `text` (reference, id or id prefix), its documents and its layers bottom first. */
export async function imageLayers(store: ImageStore, text: string | ImageRecord): Promise<ResolvedImage> {
  const record = typeof text === 'string' ? store.resolve(text) : text;
  const manifest = await store.manifest(record);
  const config = parseConfig(await store.read(manifest.config.digest), `config ${manifest.config.digest}`);
  const diffIDs = config.rootfs.diff_ids;
  if (diffIDs.length !== manifest.layers.length) {
    throw new ImageError(`image ${record.id}: manifest ${record.manifest.digest} has ${manifest.layers.length} layers, config rootfs.diff_ids ${diffIDs.length}`);
  }
  const chain = chainIDs(diffIDs);
  const layers = manifest.layers.map((descriptor, i): ImageLayer => ({
    descriptor,
    compression: layerCompression(descriptor.mediaType, `image ${record.id} layer ${i}`),
    diffID: diffIDs[i]!,
    chainID: chain[i]!,
  }));
  return { record, manifest, config, layers };
}

/** The image config of a stored image. */
export async function imageConfig(store: ImageStore, text: string | ImageRecord): Promise<ImageConfig> {
  const record = typeof text === 'string' ? store.resolve(text) : text;
  return parseConfig(await store.read(record.id), `config ${record.id}`);
}
