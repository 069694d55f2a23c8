// `berth pull`: a reference → its manifest (through the index for the platform asked for) → the
// config and layers, several at once, downloaded into the store (ContentStore.download), which
// verifies digest and size before a blob becomes visible. Blobs already in the store are not
// fetched again. Everything is held by a lease; the image is recorded only at the end, and a
// failed pull ends the lease, which removes what it added: the store's blobs and images are as
// they were. Only the bytes of a layer whose download the network broke off stay, out of sight in
// tmp/, for the next pull to continue (`berth image prune` removes them).
import type { Descriptor, Platform } from '../../oci/image-spec.js';
import type { ImageRecord, ImageStore } from '../store.js';
import { formatReference, parseReference, repositoryName, type Reference } from '../reference.js';
import { parseConfig, parseManifestOrIndex } from '../manifest.js';
import { hostPlatform, formatPlatform, platformMatches, selectManifest } from '../platform.js';
import { ImageError } from '../errors.js';
import { RegistryClient, type RegistryOptions } from './client.js';
import { mapLimit } from './limit.js';

/** What a pull is doing, for progress output. `id` is the blob's digest. */
export type PullEvent =
  | { type: 'resolved'; reference: string; digest: string; mediaType: string }
  | { type: 'layers'; layers: Descriptor[] }
  | { type: 'exists'; id: string; size: number }
  | { type: 'start'; id: string; size: number }
  | { type: 'progress'; id: string; current: number; size: number }
  | { type: 'retry'; id: string; attempt: number; reason: string; waitMs: number }
  /** A partial download that an earlier pull left is continued from `offset`. */
  | { type: 'resumed'; id: string; offset: number; size: number }
  | { type: 'done'; id: string; size: number };

export interface PullOptions extends RegistryOptions {
  /** Default: the host's. */
  platform?: Platform;
  /** Blobs fetched at once (default 4). */
  concurrency?: number;
  onEvent?: (event: PullEvent) => void;
  signal?: AbortSignal;
}

export interface PullResult {
  record: ImageRecord;
  /** The digest the reference resolved to (the index's, for a multi-platform image). */
  digest: string;
  /** The normalised reference pulled. */
  reference: string;
  /** Blobs actually downloaded (not already present). */
  downloaded: number;
}

/** Pulls `text` (a reference) into the store; returns the image's record. */
export async function pullImage(store: ImageStore, text: string, options: PullOptions = {}): Promise<ImageRecord> {
  return (await pull(store, text, options)).record;
}

export async function pull(store: ImageStore, text: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(text);
  const reference = formatReference(ref);
  const what = `pull ${reference}`;
  try {
    return await pullReference(store, ref, reference, options);
  } catch (err) {
    if (err instanceof Error && !err.message.startsWith(what)) err.message = `${what}: ${err.message.replace(new RegExp(`^${escapeRe(reference)}: `), '')}`;
    throw err;
  }
}

function escapeRe(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

async function pullReference(store: ImageStore, ref: Reference, reference: string, options: PullOptions): Promise<PullResult> {
  const emit = options.onEvent ?? (() => {});
  const want = options.platform ?? hostPlatform();
  const client = new RegistryClient(ref.domain, {
    ...options,
    onRetry: (w, attempt, err, waitMs) => {
      options.onRetry?.(w, attempt, err, waitMs);
      const id = /sha256:[a-f0-9]{64}/.exec(w)?.[0];
      if (id !== undefined) emit({ type: 'retry', id, attempt, reason: err.message, waitMs });
    },
  });
  const repo = ref.path;
  const top = await client.getManifest(repo, ref.digest ?? ref.tag!, reference, options.signal);
  emit({ type: 'resolved', reference, digest: top.digest, mediaType: top.mediaType });
  const lease = store.lease();
  let downloaded = 0;
  try {
    let index: Descriptor | undefined;
    let manifestDesc: Descriptor;
    let manifestBytes: Buffer;
    const parsedTop = parseManifestOrIndex(top.bytes, `manifest ${top.digest}`, top.mediaType);
    if (parsedTop.kind === 'index') {
      index = await store.ingest(top.bytes, { expected: { digest: top.digest, size: top.bytes.length }, mediaType: top.mediaType, lease, what: `index ${top.digest}` });
      const chosen = selectManifest(parsedTop.index, want, `index ${top.digest}`);
      const fetched = await client.getManifest(repo, chosen.digest, `manifest ${chosen.digest}`, options.signal);
      manifestBytes = fetched.bytes;
      manifestDesc = { mediaType: chosen.mediaType, digest: chosen.digest, size: fetched.bytes.length, ...(chosen.platform ? { platform: chosen.platform } : {}) };
      if (chosen.size !== fetched.bytes.length) throw new ImageError(`manifest ${chosen.digest}: ${fetched.bytes.length} bytes, the index says ${chosen.size}`);
    } else {
      manifestBytes = top.bytes;
      manifestDesc = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.length };
    }
    const parsed = parseManifestOrIndex(manifestBytes, `manifest ${manifestDesc.digest}`, manifestDesc.mediaType);
    if (parsed.kind !== 'manifest') throw new ImageError(`manifest ${manifestDesc.digest}: an index inside an index is not supported`);
    const manifest = parsed.manifest;
    emit({ type: 'layers', layers: manifest.layers });
    // The config first (small): a wrong platform is refused before the layers are fetched.
    const blobs = [manifest.config, ...manifest.layers];
    const controller = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
    await mapLimit(blobs, options.concurrency ?? 4, controller, async (desc, i) => {
      const kind = i === 0 ? 'config' : `layer ${i}`;
      const whatBlob = `${kind} ${desc.digest}`;
      lease.add(desc.digest);
      if (store.has(desc.digest)) {
        if (i > 0) emit({ type: 'exists', id: desc.digest, size: desc.size });
        return;
      }
      if (i > 0) emit({ type: 'start', id: desc.digest, size: desc.size });
      let current = 0;
      const progress = (n: number): void => {
        current += n;
        if (i > 0) emit({ type: 'progress', id: desc.digest, current, size: desc.size });
      };
      await store.download(desc, (offset) => client.openBlob(repo, desc, whatBlob, offset, signal, progress), {
        mediaType: desc.mediaType,
        lease,
        what: whatBlob,
        signal,
        onStart: (offset) => {
          current = offset;
          if (offset > 0 && i > 0) emit({ type: 'resumed', id: desc.digest, offset, size: desc.size });
        },
      });
      downloaded += 1;
      if (i > 0) emit({ type: 'done', id: desc.digest, size: desc.size });
    });
    const config = parseConfig(await store.read(manifest.config.digest), `config ${manifest.config.digest}`);
    const got = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
    if (options.platform !== undefined && !platformMatches(got, want)) {
      throw new ImageError(`image is for ${formatPlatform(got)}, not the ${formatPlatform(want)} asked for`);
    }
    await store.ingest(manifestBytes, { expected: { digest: manifestDesc.digest, size: manifestBytes.length }, mediaType: manifestDesc.mediaType, lease, what: `manifest ${manifestDesc.digest}` });
    const repository = repositoryName(ref);
    const record = store.putImage({
      manifest: manifestDesc,
      ...(index ? { index } : {}),
      names: ref.tag !== undefined ? [`${repository}:${ref.tag}`] : [],
      repoDigests: [`${repository}@${top.digest}`],
    });
    store.onEvent('pull', reference, { name: repository });
    return { record, digest: top.digest, reference, downloaded };
  } finally {
    store.endLease(lease);
  }
}
