// Reading and writing the image documents: an index or manifest list, a manifest, a config. Input
// is checked for the fields berth relies on, and each error names the document and the field.
// Output is compact JSON in a fixed key order, so the same image always gets the same digests.
import type { Compression, Descriptor, Digest, ImageConfig, ImageIndex, ImageManifest } from '../oci/image-spec.js';
import { CONFIG_MEDIA_TYPES, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, MediaType } from '../oci/image-spec.js';
import { isDigest } from './digest.js';
import { ImageError } from './errors.js';

function parseJSON(data: Buffer | string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch (err) {
    throw new ImageError(`${what}: malformed JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ImageError(`${what}: not a JSON object`);
  return value as Record<string, unknown>;
}

/** Checks the fields of a descriptor that berth uses: mediaType, digest (sha256), size. */
export function checkDescriptor(value: unknown, what: string): Descriptor {
  if (typeof value !== 'object' || value === null) throw new ImageError(`${what}: not a descriptor object`);
  const d = value as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw new ImageError(`${what}.mediaType: missing`);
  if (typeof d.digest !== 'string') throw new ImageError(`${what}.digest: missing`);
  if (!isDigest(d.digest)) throw new ImageError(`${what}.digest: ${JSON.stringify(d.digest)} is not a sha256 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw new ImageError(`${what}.size: ${JSON.stringify(d.size)} is not a size`);
  return d as unknown as Descriptor;
}

export type ManifestKind = 'index' | 'manifest';

/** Whether a document is an index/manifest list or an image manifest: its mediaType, else its shape. */
export function manifestKind(doc: Record<string, unknown>, mediaType: string | undefined, what: string): ManifestKind {
  const type = (typeof doc.mediaType === 'string' ? doc.mediaType : undefined) ?? mediaType;
  if (type === MediaType.dockerManifestV1 || type === MediaType.dockerManifestV1Signed || doc.schemaVersion === 1) {
    throw new ImageError(`${what}: Docker image manifest schema 1 is not supported (deprecated; re-push the image with a current tool)`);
  }
  if (type !== undefined && INDEX_MEDIA_TYPES.includes(type)) return 'index';
  if (type !== undefined && MANIFEST_MEDIA_TYPES.includes(type)) return 'manifest';
  if (Array.isArray(doc.manifests)) return 'index';
  if (Array.isArray(doc.layers)) return 'manifest';
  throw new ImageError(`${what}: neither an image index nor an image manifest (mediaType ${type ?? 'absent'})`);
}

/** Parses either kind; `mediaType` is the one its descriptor gave, if any. */
export function parseManifestOrIndex(data: Buffer | string, what: string, mediaType?: string): { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest } {
  const doc = parseJSON(data, what);
  return manifestKind(doc, mediaType, what) === 'index' ? { kind: 'index', index: checkIndex(doc, what) } : { kind: 'manifest', manifest: checkManifest(doc, what) };
}

export function parseManifest(data: Buffer | string, what: string): ImageManifest {
  const doc = parseJSON(data, what);
  if (manifestKind(doc, undefined, what) !== 'manifest') throw new ImageError(`${what}: an image index where an image manifest was expected`);
  return checkManifest(doc, what);
}

export function parseIndex(data: Buffer | string, what: string): ImageIndex {
  const doc = parseJSON(data, what);
  return checkIndex(doc, what);
}

function checkManifest(doc: Record<string, unknown>, what: string): ImageManifest {
  if (doc.schemaVersion !== 2) throw new ImageError(`${what}.schemaVersion: ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  const config = checkDescriptor(doc.config, `${what}.config`);
  if (!Array.isArray(doc.layers)) throw new ImageError(`${what}.layers: missing`);
  doc.layers.forEach((layer, i) => checkDescriptor(layer, `${what}.layers[${i}]`));
  if (!CONFIG_MEDIA_TYPES.includes(config.mediaType)) {
    throw new ImageError(`${what}.config.mediaType: ${config.mediaType} is not an image config (an artifact, not a container image)`);
  }
  return doc as unknown as ImageManifest;
}

function checkIndex(doc: Record<string, unknown>, what: string): ImageIndex {
  if (doc.schemaVersion !== 2) throw new ImageError(`${what}.schemaVersion: ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  if (!Array.isArray(doc.manifests)) throw new ImageError(`${what}.manifests: missing`);
  doc.manifests.forEach((m, i) => checkDescriptor(m, `${what}.manifests[${i}]`));
  return doc as unknown as ImageIndex;
}

export function parseConfig(data: Buffer | string, what: string): ImageConfig {
  const doc = parseJSON(data, what);
  if (typeof doc.architecture !== 'string') throw new ImageError(`${what}.architecture: missing`);
  if (typeof doc.os !== 'string') throw new ImageError(`${what}.os: missing`);
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null) throw new ImageError(`${what}.rootfs: missing`);
  if (rootfs.type !== 'layers') throw new ImageError(`${what}.rootfs.type: ${JSON.stringify(rootfs.type)}, expected "layers"`);
  if (!Array.isArray(rootfs.diff_ids)) throw new ImageError(`${what}.rootfs.diff_ids: missing`);
  rootfs.diff_ids.forEach((id, i) => {
    if (!isDigest(id)) throw new ImageError(`${what}.rootfs.diff_ids[${i}]: ${JSON.stringify(id)} is not a sha256 digest`);
  });
  return doc as unknown as ImageConfig;
}

/** A layer's compression from its media type; an unknown layer type is refused. */
export function layerCompression(mediaType: string, what = 'layer'): Compression {
  if (mediaType.endsWith('+gzip') || mediaType.endsWith('.tar.gzip')) return 'gzip';
  if (mediaType.endsWith('+zstd') || mediaType.endsWith('.tar.zstd')) return 'zstd';
  if (mediaType.endsWith('.tar') || mediaType === MediaType.dockerLayer) return 'none';
  throw new ImageError(`${what}: media type ${mediaType} is not a layer berth can unpack`);
}

/** The layer media type for a compression, in the manifest's family. */
export function layerMediaType(compression: Compression, family: 'oci' | 'docker' = 'oci'): string {
  if (family === 'docker') return compression === 'gzip' ? MediaType.dockerLayerGzip : compression === 'zstd' ? MediaType.dockerLayerZstd : MediaType.dockerLayer;
  return compression === 'gzip' ? MediaType.ociLayerGzip : compression === 'zstd' ? MediaType.ociLayerZstd : MediaType.ociLayer;
}

/** The family of a manifest media type: Docker schema2 or OCI. */
export function manifestFamily(mediaType: string | undefined): 'oci' | 'docker' {
  return mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList ? 'docker' : 'oci';
}

/** Only the descriptor fields the spec defines, in its order (no fields a caller added on the side). */
export function cleanDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.urls !== undefined) out.urls = d.urls;
  if (d.annotations !== undefined) out.annotations = d.annotations;
  if (d.data !== undefined) out.data = d.data;
  if (d.artifactType !== undefined) out.artifactType = d.artifactType;
  if (d.platform !== undefined) out.platform = d.platform;
  return out;
}

/**
 * An OCI image manifest for a config and layers (berth's own images: load, import, commit). The
 * image-spec's schema wants one layer at least; `allowNoLayers` is for a build's own steps before
 * the first layer of a `FROM scratch` stage, which never leave the store (the build refuses such a
 * result).
 */
export function buildManifest(config: Descriptor, layers: Descriptor[], annotations?: Record<string, string>, allowNoLayers = false): ImageManifest {
  if (layers.length === 0 && !allowNoLayers) throw new ImageError('an image manifest needs at least one layer');
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: cleanDescriptor({ ...config, mediaType: MediaType.ociConfig }),
    layers: layers.map(cleanDescriptor),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

/** Compact JSON, as registries and docker write these documents. */
export function encodeJSON(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

/** The digests a manifest references: its config and its layers. */
export function manifestBlobs(manifest: ImageManifest): Digest[] {
  return [manifest.config.digest, ...manifest.layers.map((l) => l.digest)];
}
