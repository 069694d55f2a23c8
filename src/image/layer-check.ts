// What a layer blob holds, found by reading it through: its compression (from its first bytes),
// the digest of its uncompressed tar (the diff_id) and whether that tar is whole. Loads check
// every layer this way before they name an image, so a layer that is not what the config says,
// or not a tar at all, is refused at the door rather than at unpack time.
import { closeSync, openSync, readSync } from 'node:fs';
import { TarError, decompressedChunks, detectCompression, readTar } from '../tar/index.js';
import type { Compression, Digest } from '../oci/image-spec.js';
import type { ImageStore } from './store.js';
import { Sha256Counter } from './digest.js';
import { DigestError, ImageError } from './errors.js';

export interface LayerFacts {
  compression: Compression;
  diffID: Digest;
  /** Bytes of the uncompressed tar. */
  tarSize: number;
  entries: number;
}

/** The compression of a stored blob, from its first bytes; bzip2 and xz are refused. */
export function blobCompression(store: ImageStore, digest: Digest, what = `layer ${digest}`): Compression {
  const head = Buffer.alloc(6);
  const fd = openSync(store.content.path(digest), 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  const kind = detectCompression(head.subarray(0, n));
  if (kind === 'bzip2' || kind === 'xz') throw new ImageError(`${what}: ${kind}-compressed layers are not supported (plain, gzip or zstd)`);
  return kind;
}

/** Reads a stored layer through: its compression, diff_id and entry count; a broken tar throws. */
export async function inspectLayer(store: ImageStore, digest: Digest, what = `layer ${digest}`): Promise<LayerFacts> {
  const compression = blobCompression(store, digest, what);
  const counter = new Sha256Counter();
  async function* hashed(): AsyncGenerator<Buffer> {
    for await (const chunk of decompressedChunks(store.readStream(digest))) {
      counter.update(chunk);
      yield chunk;
    }
  }
  let entries = 0;
  try {
    for await (const entry of readTar(hashed())) {
      entries += 1;
      await entry.skip();
    }
  } catch (err) {
    if (err instanceof ImageError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    // A broken tar (TarError) or broken compression (zlib's Z_* codes) is not a layer; anything else
    // (no zstd in this Node, a read error) is said as it is.
    if (err instanceof TarError || (typeof code === 'string' && code.startsWith('Z_'))) {
      throw new ImageError(`${what}: not a valid ${compression === 'none' ? '' : `${compression}-compressed `}tar: ${(err as Error).message}`);
    }
    throw new ImageError(`${what}: ${(err as Error).message}`);
  }
  return { compression, diffID: counter.digest(), tarSize: counter.size, entries };
}

/** Checks a stored layer against the diff_id its config gives. */
export async function verifyDiffID(store: ImageStore, digest: Digest, diffID: Digest, what: string): Promise<LayerFacts> {
  const facts = await inspectLayer(store, digest, what);
  if (facts.diffID !== diffID) throw new DigestError(`${what}: diff_id mismatch: the config says ${diffID}, the uncompressed layer is ${facts.diffID}`);
  return facts;
}
