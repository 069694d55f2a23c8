// Loading what `docker save` writes: manifest.json lists each image as {Config, RepoTags,
// Layers}, with paths into the archive (`<id>/layer.tar` and `<hex>.json` before docker 25,
// `blobs/sha256/<hex>` since). Layers are stored as given; an OCI manifest is made for them. Every
// layer's uncompressed digest must be the config's rootfs.diff_ids entry: a mismatch is refused.
import type { Descriptor, DockerArchiveEntry } from '../../oci/image-spec.js';
import { MediaType } from '../../oci/image-spec.js';
import type { ImageStore } from '../store.js';
import type { VerifiedImage } from './verified.js';
import type { Lease } from '../lease.js';
import { sha256 } from '../digest.js';
import { DigestError, ImageError } from '../errors.js';
import { buildManifest, encodeJSON, layerMediaType, parseConfig } from '../manifest.js';
import { verifyDiffID } from '../layer-check.js';
import { blobNameDigest, type ArchiveContents } from './contents.js';

function parseArchiveManifest(data: Buffer, label: string): DockerArchiveEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new ImageError(`${label}: manifest.json: malformed JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(value)) throw new ImageError(`${label}: manifest.json: not a list of images`);
  value.forEach((entry: Partial<DockerArchiveEntry>, i) => {
    const where = `${label}: manifest.json[${i}]`;
    if (typeof entry?.Config !== 'string') throw new ImageError(`${where}.Config: missing`);
    if (!Array.isArray(entry.Layers) || entry.Layers.some((l) => typeof l !== 'string')) throw new ImageError(`${where}.Layers: not a list of paths`);
    if (entry.RepoTags != null && (!Array.isArray(entry.RepoTags) || entry.RepoTags.some((t) => typeof t !== 'string'))) {
      throw new ImageError(`${where}.RepoTags: not a list of names`);
    }
  });
  return value as DockerArchiveEntry[];
}

/** The hex a docker config file is named by (`<hex>.json`, `blobs/sha256/<hex>`), if any. */
function configNameHex(name: string): string | undefined {
  return /(?:^|\/)([a-f0-9]{64})\.json$/.exec(name)?.[1] ?? blobNameDigest(name, '')?.slice('sha256:'.length);
}

/**
 * Verifies and stores each image of a docker-archive; returns what to record (nothing is
 * recorded here: the caller commits all images at the end).
 */
export async function loadDockerArchive(store: ImageStore, contents: ArchiveContents, lease: Lease): Promise<VerifiedImage[]> {
  const { label } = contents;
  const entries = parseArchiveManifest(await contents.file('manifest.json'), label);
  const checked = new Map<string, Descriptor>();
  const images: VerifiedImage[] = [];
  for (const [i, entry] of entries.entries()) {
    const where = `${label}: image ${i} (${entry.Config})`;
    const configData = await contents.file(entry.Config);
    const named = configNameHex(entry.Config);
    const configDigest = sha256(configData);
    if (named !== undefined && `sha256:${named}` !== configDigest) {
      throw new DigestError(`${label}: ${entry.Config}: digest mismatch: named sha256:${named}, content is ${configDigest}`);
    }
    const config = parseConfig(configData, `${label}: ${entry.Config}`);
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== entry.Layers.length) {
      throw new ImageError(`${where}: manifest.json lists ${entry.Layers.length} layers, the config's rootfs.diff_ids ${diffIDs.length}`);
    }
    const layers: Descriptor[] = [];
    for (const [j, path] of entry.Layers.entries()) {
      const blob = await contents.blob(path);
      const key = `${blob.digest} ${diffIDs[j]}`;
      let layer = checked.get(key);
      if (layer === undefined) {
        const facts = await verifyDiffID(store, blob.digest, diffIDs[j]!, `${label}: ${path} (layer ${j} of ${entry.Config})`);
        layer = { mediaType: layerMediaType(facts.compression), digest: blob.digest, size: blob.size };
        checked.set(key, layer);
      }
      layers.push(layer);
    }
    const configDesc = await store.ingest(configData, { expected: { digest: configDigest }, mediaType: MediaType.ociConfig, lease, what: `${label}: ${entry.Config}` });
    const manifest = buildManifest(configDesc, layers);
    const manifestDesc = await store.ingest(encodeJSON(manifest), { mediaType: MediaType.ociManifest, lease, what: `${where}: manifest` });
    images.push({
      id: configDesc.digest,
      manifest: { ...manifestDesc, platform: { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) } },
      names: entry.RepoTags ?? [],
    });
  }
  return images;
}
