// `berth push`: an image of the store → a registry. Each blob (config, layers) is checked with a
// HEAD first; one the registry lacks is mounted from another repository of the same registry that
// this image came from (or was pushed to) when there is one, else uploaded (one PUT, or PATCH
// chunks for a large one). The manifest goes last, under the tag, with its own media type and the
// exact bytes of the store, so the digest the registry gives is the image's.
import { createReadStream } from 'node:fs';
import type { Descriptor, Digest } from '../../oci/image-spec.js';
import type { ImageStore } from '../store.js';
import { formatReference, parseReference, repositoryName } from '../reference.js';
import { parseManifest } from '../manifest.js';
import { ImageError } from '../errors.js';
import { RegistryClient, pushScope, type RegistryOptions } from './client.js';
import { mapLimit } from './limit.js';

export type PushEvent =
  | { type: 'layers'; layers: Descriptor[] }
  | { type: 'exists'; id: Digest; size: number }
  | { type: 'start'; id: Digest; size: number }
  | { type: 'progress'; id: Digest; current: number; size: number }
  | { type: 'mounted'; id: Digest; from: string }
  | { type: 'done'; id: Digest; size: number };

export interface PushOptions extends RegistryOptions {
  /** Blobs larger than this go up in PATCH chunks of this size (default 32 MiB). */
  chunkSize?: number;
  concurrency?: number;
  onEvent?: (event: PushEvent) => void;
}

export interface PushResult {
  /** The normalised reference pushed to. */
  reference: string;
  digest: Digest;
  size: number;
}

/** Pushes the image `source` (a name or id in the store) to `destination` (default: `source`). */
export async function pushImage(store: ImageStore, source: string, destination?: string, options: PushOptions = {}): Promise<PushResult> {
  const record = store.resolve(source);
  const destText = destination ?? source;
  const ref = parseReference(destText);
  const reference = formatReference(ref);
  const what = `push ${reference}`;
  const emit = options.onEvent ?? (() => {});
  try {
    const manifestBytes = await store.read(record.manifest.digest);
    const manifest = parseManifest(manifestBytes, `manifest ${record.manifest.digest}`);
    const client = new RegistryClient(ref.domain, options);
    const repo = ref.path;
    // Other repositories of the same registry that hold this image: sources for a mount.
    const mountFrom = [...record.names, ...record.repoDigests]
      .map((n) => parseReference(n.replace(/@.*$/, ''), { defaultTag: false }))
      .filter((r) => r.domain === ref.domain && r.path !== repo)
      .map((r) => r.path);
    emit({ type: 'layers', layers: manifest.layers });
    const blobs = [manifest.config, ...manifest.layers];
    await mapLimit(blobs, options.concurrency ?? 4, new AbortController(), async (desc, i) => {
      const whatBlob = `${i === 0 ? 'config' : `layer ${i}`} ${desc.digest}`;
      const size = store.size(desc.digest);
      if (size !== desc.size) throw new ImageError(`${whatBlob}: ${size} bytes in the store, the manifest says ${desc.size}`);
      if (await client.hasBlob(repo, desc.digest, [pushScope(repo)], whatBlob)) {
        if (i > 0) emit({ type: 'exists', id: desc.digest, size });
        return;
      }
      for (const from of [...new Set(mountFrom)]) {
        // A mount the registry refuses, for whatever reason, costs only the upload that follows.
        if (await client.mountBlob(repo, desc.digest, from, whatBlob).catch(() => false)) {
          if (i > 0) emit({ type: 'mounted', id: desc.digest, from });
          return;
        }
      }
      if (i > 0) emit({ type: 'start', id: desc.digest, size });
      let current = 0;
      const path = store.content.path(desc.digest);
      await client.uploadBlob(
        repo,
        desc,
        (start, end) => createReadStream(path, { start, end: end - 1, highWaterMark: 1024 * 1024 }),
        whatBlob,
        options.chunkSize,
        (n) => {
          current += n;
          if (i > 0) emit({ type: 'progress', id: desc.digest, current, size });
        },
      );
      if (i > 0) emit({ type: 'done', id: desc.digest, size });
    });
    const mediaType = manifest.mediaType ?? record.manifest.mediaType;
    const tagOrDigest = ref.digest ?? ref.tag ?? 'latest';
    if (ref.digest !== undefined && ref.digest !== record.manifest.digest) throw new ImageError(`the image's manifest is ${record.manifest.digest}, not ${ref.digest}`);
    const stated = await client.putManifest(repo, tagOrDigest, manifestBytes, mediaType, `manifest ${record.manifest.digest}`);
    if (stated !== undefined && stated !== record.manifest.digest) throw new ImageError(`the registry stored the manifest as ${stated}, not ${record.manifest.digest}`);
    // Remember where the image now is: a later push to another repository can mount from here.
    const repoDigest = `${repositoryName(ref)}@${record.manifest.digest}`;
    if (!record.repoDigests.includes(repoDigest)) store.putImage({ manifest: record.manifest, ...(record.index ? { index: record.index } : {}), repoDigests: [repoDigest] });
    store.onEvent('push', reference, { name: repositoryName(ref) });
    return { reference, digest: record.manifest.digest, size: manifestBytes.length };
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith(what)) err.message = `${what}: ${err.message}`;
    throw err;
  }
}
