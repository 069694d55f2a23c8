// The image half of berth: the content-addressed store, references, and images in and out.
export * from '../oci/image-spec.js';
export { ImageError, InvalidReferenceError, DigestError, NotFoundError } from './errors.js';
export { sha256, chainIDs, digestHex, isDigest } from './digest.js';
export {
  parseReference,
  formatReference,
  normalizeReference,
  repositoryName,
  familiarName,
  familiarRepository,
  registryDomain,
  registryHost,
  withTag,
  looksLikeImageId,
  DOCKER_HUB,
  DOCKER_HUB_API,
  DEFAULT_TAG,
  type Reference,
} from './reference.js';
export { ContentStore, type BlobSource, type IngestOptions, type DownloadOptions, type RangedOpen, type RangedSource } from './blobs.js';
export { Lease } from './lease.js';
export { ImageStore, DEFAULT_ROOT, defaultRoot, findImage, shortId, tryNormalize, type ImageRecord, type NewImage, type RemoveResult, type PruneOptions, type PruneResult, type DiskUsage, type ImageUsage } from './store.js';
export { imageLayers, imageConfig, type ImageLayer, type ResolvedImage } from './layers.js';
export { inspectLayer, verifyDiffID, blobCompression, type LayerFacts } from './layer-check.js';
export { parseManifest, parseIndex, parseConfig, parseManifestOrIndex, buildManifest, encodeJSON, layerCompression, layerMediaType } from './manifest.js';
export { hostPlatform, parsePlatform, formatPlatform, platformMatches, selectManifest, imageArchitecture } from './platform.js';
export { commitImage, type CommitOptions, type CommitLayer } from './commit.js';
export { loadArchive, type LoadResult, type LoadOptions, type ArchiveFormat } from './formats/load.js';
export { saveArchive, type SaveFormat, type SaveResult } from './formats/save.js';
export { importRootfs, type ImportOptions } from './formats/import.js';
export { imageHistory, type HistoryEntry } from './history.js';
export { ensureImage, PULL_POLICIES, type PullPolicy, type EnsureOptions, type EnsureResult } from './registry/index.js';
