// `berth import FILE|- [REF]`: a flat rootfs tar (docker export, the seed's first command) becomes
// a one-layer image. The tar is stored as given (plain, gzip or zstd), as docker import does; its
// diff_id is the digest of the uncompressed tar. The config is docker's for an import: the host's
// architecture, linux, no Cmd, one history entry saying where it came from.
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { ContainerConfig, ImageConfig } from '../../oci/image-spec.js';
import { MediaType } from '../../oci/image-spec.js';
import type { ImageRecord, ImageStore } from '../store.js';
import { ImageError } from '../errors.js';
import { buildManifest, encodeJSON, layerMediaType } from '../manifest.js';
import { inspectLayer } from '../layer-check.js';
import { hostPlatform } from '../platform.js';
import { isMissing } from '../../errors.js';

export interface ImportOptions {
  /** Name for the image (`busybox:imported`); none leaves it unnamed, listed by id. */
  ref?: string;
  /** What the history says it was imported from (default the file name, or `-` for a stream). */
  source?: string;
  /** `--message`: the history entry's comment instead of `imported from SOURCE`. */
  message?: string;
  /** `--change`d defaults (Cmd, Env, WorkingDir...). */
  config?: ContainerConfig;
  /** The image's creation time (default now): fix it for reproducible ids. */
  created?: Date;
}

export async function importRootfs(store: ImageStore, input: string | Readable, options: ImportOptions = {}): Promise<ImageRecord> {
  const source = options.source ?? (typeof input === 'string' ? input : '-');
  const lease = store.lease();
  try {
    let stream: Readable;
    if (typeof input === 'string') {
      let isFile = false;
      try {
        isFile = statSync(input).isFile();
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
      if (!isFile) throw new ImageError(`import: ${input}: no such file`);
      stream = createReadStream(input, { highWaterMark: 1024 * 1024 });
    } else {
      stream = input;
    }
    const blob = await store.ingest(stream, { lease, what: `import of ${source}` });
    const facts = await inspectLayer(store, blob.digest, `import of ${source}`);
    const created = (options.created ?? new Date()).toISOString();
    const platform = hostPlatform();
    const config: ImageConfig = {
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: 'linux',
      created,
      config: options.config ?? {},
      rootfs: { type: 'layers', diff_ids: [facts.diffID] },
      history: [{ created, created_by: '', comment: options.message ?? `imported from ${source}` }],
    };
    const configDesc = await store.ingest(encodeJSON(config), { mediaType: MediaType.ociConfig, lease, what: 'import: config' });
    const layer = { mediaType: layerMediaType(facts.compression), digest: blob.digest, size: blob.size };
    const manifestDesc = await store.ingest(encodeJSON(buildManifest(configDesc, [layer])), { mediaType: MediaType.ociManifest, lease, what: 'import: manifest' });
    const record = store.putImage({ manifest: { ...manifestDesc, platform }, names: options.ref !== undefined ? [options.ref] : [] });
    store.onEvent('import', record.id, { name: record.names[0] ?? record.id });
    return record;
  } finally {
    store.endLease(lease);
  }
}
