// `berth load`: an archive in any of the forms images travel in, told apart by what it holds:
//   docker-archive   manifest.json (docker save; before docker 25 only this)
//   OCI archive      oci-layout + index.json + blobs/ (docker 25's save has both: read as OCI)
//   OCI layout       the same as a directory
// The archive may be gzip- or zstd-compressed. Blobs go into the store verified, under a lease;
// the images are recorded only once all of them are verified, and on any failure the blobs this
// load added are taken out again: the store is as it was.
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Digest } from '../../oci/image-spec.js';
import type { ImageStore, ImageRecord } from '../store.js';
import type { VerifiedImage } from './verified.js';
import { ImageError } from '../errors.js';
import { formatReference, parseReference } from '../reference.js';
import { readArchiveDirectory, readArchiveStream, type ArchiveContents } from './contents.js';
import { loadDockerArchive } from './docker-archive-load.js';
import { loadOciLayout } from './oci-layout-load.js';
import { isMissing } from '../../errors.js';

export type ArchiveFormat = 'docker-archive' | 'oci-archive' | 'oci-layout';

export interface LoadResult {
  format: ArchiveFormat;
  /** The images recorded, each with its (normalised) names; unnamed ones have none. */
  images: ImageRecord[];
  /** Each image and the names the archive gave it (normalised): what `docker load` reports. */
  loaded: { id: Digest; names: string[] }[];
}

export interface LoadOptions {
  /** Named in errors when the input is a stream (default `standard input`). */
  label?: string;
}

/** Loads a docker-archive, OCI archive (a file or a stream) or OCI layout directory. */
export async function loadArchive(store: ImageStore, input: string | Readable, options: LoadOptions = {}): Promise<LoadResult> {
  const lease = store.lease();
  try {
    let contents: ArchiveContents;
    let isDirectory = false;
    if (typeof input === 'string') {
      let stat;
      try {
        stat = statSync(input);
      } catch (err) {
        if (!isMissing(err)) throw err;
        throw new ImageError(`${input}: no such file or directory`);
      }
      isDirectory = stat.isDirectory();
      contents = isDirectory ? readArchiveDirectory(store, input, lease) : await readArchiveStream(store, createReadStream(input, { highWaterMark: 1024 * 1024 }), input, lease);
    } else {
      contents = await readArchiveStream(store, input, options.label ?? 'standard input', lease);
    }
    let format: ArchiveFormat;
    let images: VerifiedImage[];
    if (contents.exists('oci-layout') && contents.exists('index.json')) {
      format = isDirectory ? 'oci-layout' : 'oci-archive';
      images = await loadOciLayout(store, contents);
      if (contents.exists('manifest.json')) await addDockerNames(contents, images);
    } else if (contents.exists('manifest.json')) {
      format = 'docker-archive';
      images = await loadDockerArchive(store, contents, lease);
    } else {
      throw new ImageError(`${contents.label}: neither a docker-archive (no manifest.json) nor an OCI layout (no oci-layout and index.json)`);
    }
    for (const image of images) image.names = [...new Set((image.names ?? []).map((n) => normalizeName(n, contents.label)))];
    const records = images.map((image) => store.putImage(image));
    for (const r of records) store.onEvent('load', r.id, { name: r.names[0] ?? r.id });
    const loaded = new Map<Digest, string[]>();
    for (const image of images) loaded.set(image.id, [...new Set([...(loaded.get(image.id) ?? []), ...(image.names ?? [])])]);
    return { format, images: mergeRecords(records), loaded: [...loaded].map(([id, names]) => ({ id, names })) };
  } finally {
    store.endLease(lease);
  }
}

function normalizeName(name: string, label: string): string {
  try {
    return formatReference(parseReference(name));
  } catch (err) {
    throw new ImageError(`${label}: ${(err as Error).message}`);
  }
}

/** docker 25's save is both: its manifest.json RepoTags name images whose index.json entries may not. */
async function addDockerNames(contents: ArchiveContents, images: VerifiedImage[]): Promise<void> {
  let entries: unknown;
  try {
    entries = JSON.parse((await contents.file('manifest.json')).toString('utf8'));
  } catch {
    // No manifest.json, or not JSON: an OCI layout alone, whose index.json named every image;
    // docker's manifest.json only adds names, so without it the load is complete.
    return;
  }
  if (!Array.isArray(entries)) return;
  for (const entry of entries as { Config?: unknown; RepoTags?: unknown }[]) {
    const hex = typeof entry?.Config === 'string' ? /([a-f0-9]{64})(?:\.json)?$/.exec(entry.Config)?.[1] : undefined;
    const image = images.find((i) => i.id === `sha256:${hex}`);
    if (image === undefined || !Array.isArray(entry.RepoTags)) continue;
    for (const tag of entry.RepoTags) if (typeof tag === 'string' && !(image.names ??= []).includes(tag)) image.names.push(tag);
  }
}

/** One record per image: the last one written for an id has all its names. */
function mergeRecords(records: ImageRecord[]): ImageRecord[] {
  const byId = new Map<string, ImageRecord>();
  for (const r of records) byId.set(r.id, r);
  return [...byId.values()];
}
