// `berth save` as docker 25 writes it, without the OCI side: blobs/sha256/ for configs and layers
// (layers as stored: docker load and skopeo decompress what is compressed), manifest.json with
// each image's Config, RepoTags (docker's short names) and Layers, and the legacy `repositories`.
import type { DockerArchiveEntry } from '../../oci/image-spec.js';
import type { TarWriter } from '../../tar/index.js';
import type { ImageStore } from '../store.js';
import { imageLayers } from '../layers.js';
import { familiarName, familiarRepository, parseReference } from '../reference.js';
import { BlobWriter, type SaveItem } from './save-target.js';

export async function writeDockerArchive(store: ImageStore, items: SaveItem[], tar: TarWriter): Promise<void> {
  const blobs = new BlobWriter(store, tar);
  const manifest: DockerArchiveEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { record, names } of items) {
    const { layers } = await imageLayers(store, record);
    const config = await blobs.add(record.id);
    const layerPaths: string[] = [];
    for (const layer of layers) layerPaths.push(await blobs.add(layer.descriptor.digest));
    const tags = names.map((n) => parseReference(n)).filter((r) => r.tag !== undefined);
    manifest.push({ Config: config, RepoTags: tags.length > 0 ? tags.map((r) => familiarName({ domain: r.domain, path: r.path, tag: r.tag! })) : null, Layers: layerPaths });
    const top = layers[layers.length - 1]!.descriptor.digest.slice('sha256:'.length);
    for (const r of tags) (repositories[familiarRepository(r)] ??= {})[r.tag!] = top;
  }
  await tar.add({ name: 'manifest.json', type: 'file' }, `${JSON.stringify(manifest)}\n`);
  if (Object.keys(repositories).length > 0) await tar.add({ name: 'repositories', type: 'file' }, `${JSON.stringify(repositories)}\n`);
}
