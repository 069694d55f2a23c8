// `berth save --format oci`: an OCI image layout as a tar. index.json names each image twice, as
// containerd and docker 25 do: io.containerd.image.name (the whole reference) and
// org.opencontainers.image.ref.name (the tag, which is what skopeo and podman match).
import type { Descriptor, ImageIndex, ImageLayout } from '../../oci/image-spec.js';
import { Annotation, MediaType } from '../../oci/image-spec.js';
import type { TarWriter } from '../../tar/index.js';
import type { ImageStore } from '../store.js';
import { imageLayers } from '../layers.js';
import { parseReference } from '../reference.js';
import { BlobWriter, type SaveItem } from './save-target.js';

export async function writeOciArchive(store: ImageStore, items: SaveItem[], tar: TarWriter): Promise<void> {
  const layout: ImageLayout = { imageLayoutVersion: '1.0.0' };
  await tar.add({ name: 'oci-layout', type: 'file' }, JSON.stringify(layout));
  const blobs = new BlobWriter(store, tar);
  const manifests: Descriptor[] = [];
  for (const { record, names } of items) {
    const { layers } = await imageLayers(store, record);
    await blobs.add(record.manifest.digest);
    await blobs.add(record.id);
    for (const layer of layers) await blobs.add(layer.descriptor.digest);
    const base: Descriptor = { mediaType: record.manifest.mediaType, digest: record.manifest.digest, size: record.manifest.size };
    if (record.manifest.platform !== undefined) base.platform = record.manifest.platform;
    if (names.length === 0) manifests.push(base);
    for (const name of names) {
      const tag = parseReference(name).tag;
      manifests.push({ ...base, annotations: { [Annotation.containerdImageName]: name, ...(tag !== undefined ? { [Annotation.refName]: tag } : {}) } });
    }
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  await tar.add({ name: 'index.json', type: 'file' }, `${JSON.stringify(index)}\n`);
}
