// An image's layers on disk: unpacked once each into <root>/storage/layers/<chain id>, shared by
// every container of every image that has them, and read through in order (top first) to find an
// image's file without mounting anything.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageStore, ResolvedImage } from '../image/index.js';
import { resolveInRoot } from '../runtime/root-path.js';
import { isWhiteout } from '../storage/diff.js';
import { layerDirName, unpackLayerInto } from '../storage/unpack.js';
import { isMissing } from '../errors.js';

export function storageDir(root: string): string {
  return join(root, 'storage');
}

export function layersDir(root: string): string {
  return join(storageDir(root), 'layers');
}

/** Unpacks whatever layers of the image are not on disk yet; returns their dirs, bottom first. */
export async function ensureLayers(store: ImageStore, root: string, image: ResolvedImage): Promise<string[]> {
  const dirs: string[] = [];
  for (const layer of image.layers) {
    const dir = join(layersDir(root), layerDirName(layer.chainID));
    if (!existsSync(dir)) {
      await unpackLayerInto(layersDir(root), layer.chainID, store.readStream(layer.descriptor.digest), {
        expectedDiffID: layer.diffID,
        digest: layer.descriptor.digest,
      });
    }
    dirs.push(dir);
  }
  return dirs;
}

export function layerDirsOf(root: string, chainIds: string[]): string[] {
  return chainIds.map((id) => join(layersDir(root), layerDirName(id)));
}

/**
 * A file of the image as its merged root would show it: the topmost layer that has it, unless a
 * whiteout above hides it. Symlinks are followed inside each layer, never out of it.
 */
export function readImageFile(layerDirsBottomFirst: string[], path: string): string | null {
  for (const dir of [...layerDirsBottomFirst].reverse()) {
    const host = resolveInRoot(dir, path);
    let st;
    try {
      st = lstatSync(host);
    } catch (err) {
      if (!isMissing(err)) throw err;
      continue; // not in this layer: the one below may have it
    }
    if (isWhiteout(st)) return null;
    if (!st.isFile()) return null;
    return readFileSync(host, 'utf8');
  }
  return null;
}
