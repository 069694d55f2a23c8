// Loading an OCI image layout (a directory, or an OCI archive: the same as a tar): `oci-layout`,
// `index.json` and `blobs/sha256/`. Manifests are kept as they are (so digests stay those the
// registry gave); an index inside is resolved to the host's platform. Every blob is verified by
// digest and size, and every layer against its config's diff_id.
import type { Descriptor, ImageIndex, ImageLayout } from '../../oci/image-spec.js';
import { Annotation } from '../../oci/image-spec.js';
import type { ImageStore } from '../store.js';
import type { VerifiedImage } from './verified.js';
import { DigestError, ImageError } from '../errors.js';
import { layerCompression, parseConfig, parseIndex, parseManifestOrIndex } from '../manifest.js';
import { selectManifest } from '../platform.js';
import { verifyDiffID } from '../layer-check.js';
import { formatReference, parseReference } from '../reference.js';
import type { ArchiveContents } from './contents.js';

/** The names an index entry gives its image: containerd's whole name, or a ref.name that is a reference (not a bare tag). */
export function namesFromAnnotations(annotations: Record<string, string> | undefined): string[] {
  const whole = annotations?.[Annotation.containerdImageName];
  if (whole !== undefined) return [whole];
  const refName = annotations?.[Annotation.refName];
  // A bare tag (`latest`) names no repository: the image loads unnamed.
  if (refName !== undefined && /[/:@]/.test(refName)) return [refName];
  return [];
}

class BlobReader {
  constructor(
    private readonly store: ImageStore,
    private readonly contents: ArchiveContents,
  ) {}

  /** The blob a descriptor names, in the store and verified against the descriptor's size. */
  async get(d: Descriptor, what: string): Promise<Descriptor> {
    const name = `blobs/sha256/${d.digest.slice('sha256:'.length)}`;
    let stored: Descriptor;
    if (this.contents.exists(name)) stored = await this.contents.blob(name);
    else if (this.store.has(d.digest)) stored = { ...d, size: this.store.size(d.digest) };
    else throw new ImageError(`${this.contents.label}: ${what} ${d.digest}: missing from the archive`);
    if (stored.digest !== d.digest) throw new DigestError(`${this.contents.label}: ${what}: digest mismatch: expected ${d.digest}, got ${stored.digest}`);
    if (stored.size !== d.size) throw new DigestError(`${this.contents.label}: ${what} ${d.digest}: size mismatch: the descriptor says ${d.size} bytes, the blob has ${stored.size}`);
    return stored;
  }

  async json(d: Descriptor, what: string): Promise<Buffer> {
    await this.get(d, what);
    return this.store.read(d.digest);
  }
}

/** Verifies each image of the layout (its blobs come into the store, under the load's lease, through `contents`). */
export async function loadOciLayout(store: ImageStore, contents: ArchiveContents): Promise<VerifiedImage[]> {
  const { label } = contents;
  let layout: Partial<ImageLayout>;
  try {
    layout = JSON.parse((await contents.file('oci-layout')).toString('utf8')) as Partial<ImageLayout>;
  } catch (err) {
    throw new ImageError(`${label}: oci-layout: malformed JSON (${(err as Error).message})`);
  }
  if (layout.imageLayoutVersion !== '1.0.0') throw new ImageError(`${label}: oci-layout: imageLayoutVersion ${JSON.stringify(layout.imageLayoutVersion)}, expected "1.0.0"`);
  const index: ImageIndex = parseIndex(await contents.file('index.json'), `${label}: index.json`);
  const blobs = new BlobReader(store, contents);
  const verifiedLayers = new Set<string>();
  const images: VerifiedImage[] = [];
  for (const [i, entry] of index.manifests.entries()) {
    const where = `index.json manifests[${i}]`;
    const names = namesFromAnnotations(entry.annotations).map((n) => {
      try {
        return formatReference(parseReference(n));
      } catch (err) {
        throw new ImageError(`${label}: ${where}: ${(err as Error).message}`);
      }
    });
    let manifestDesc = entry;
    let indexDesc: Descriptor | undefined;
    let doc = parseManifestOrIndex(await blobs.json(entry, where), `${label}: ${where} ${entry.digest}`, entry.mediaType);
    if (doc.kind === 'index') {
      indexDesc = entry;
      manifestDesc = selectManifest(doc.index, undefined, `${label}: ${where} ${entry.digest}`);
      doc = parseManifestOrIndex(await blobs.json(manifestDesc, `${where} (platform manifest)`), `${label}: manifest ${manifestDesc.digest}`, manifestDesc.mediaType);
      if (doc.kind === 'index') throw new ImageError(`${label}: ${manifestDesc.digest}: an index inside an index inside index.json is not supported`);
    }
    const manifest = doc.manifest;
    const configData = await blobs.json(manifest.config, `config of ${manifestDesc.digest}`);
    const config = parseConfig(configData, `${label}: config ${manifest.config.digest}`);
    const diffIDs = config.rootfs.diff_ids;
    if (diffIDs.length !== manifest.layers.length) {
      throw new ImageError(`${label}: manifest ${manifestDesc.digest} has ${manifest.layers.length} layers, its config's rootfs.diff_ids ${diffIDs.length}`);
    }
    for (const [j, layer] of manifest.layers.entries()) {
      const what = `layer ${j} of manifest ${manifestDesc.digest}`;
      layerCompression(layer.mediaType, `${label}: ${what}`);
      await blobs.get(layer, what);
      const key = `${layer.digest} ${diffIDs[j]}`;
      if (verifiedLayers.has(key)) continue;
      await verifyDiffID(store, layer.digest, diffIDs[j]!, `${label}: ${what} (${layer.digest})`);
      verifiedLayers.add(key);
    }
    const platform = manifestDesc.platform ?? { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
    images.push({
      id: manifest.config.digest,
      manifest: { mediaType: manifestDesc.mediaType, digest: manifestDesc.digest, size: manifestDesc.size, platform },
      ...(indexDesc ? { index: { mediaType: indexDesc.mediaType, digest: indexDesc.digest, size: indexDesc.size } } : {}),
      names,
    });
  }
  return images;
}
