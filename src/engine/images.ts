// Image operations that depend on containers: an image is never removed from under a container
// that uses it. The CLI's rmi, prune and system df and the Engine API's DELETE /images share them.
import { BerthError, type ErrorKind } from '../errors.js';
import { imageConfig, tryNormalize, type ImageStore, type PruneResult, type RemoveResult } from '../image/index.js';
import type { ContainerStore } from './containers.js';

export class ImageInUseError extends BerthError {
  static override readonly kind: ErrorKind = 'conflict';
  override readonly name = 'ImageInUseError';
}

/** Image id → the name of one container that uses it. */
export function imagesInUse(containers: ContainerStore): Map<string, string> {
  const used = new Map<string, string>();
  for (const c of containers.list()) used.set(c.imageId, c.name);
  return used;
}

/**
 * `rmi` as docker's: one of an image's several names only goes (the image stays, whoever uses it);
 * the image itself goes unless a container uses it; `force` takes an id with many names.
 */
export function removeImage(images: ImageStore, containers: ContainerStore, ref: string, force: boolean): RemoveResult {
  const record = images.resolve(ref);
  const oneOfItsNames = record.names.length > 1 && record.names.includes(tryNormalize(ref) ?? '');
  const user = imagesInUse(containers).get(record.id);
  if (user && !oneOfItsNames) {
    const why = force ? `container ${user} uses it, even with -f` : `container ${user} uses it (remove the container first)`;
    throw new ImageInUseError(`unable to remove image ${ref}: ${why}`);
  }
  return images.remove(ref, { force });
}


export interface PruneImagesOptions {
  /** Every image no container uses, not only dangling (unnamed) ones: `image prune -a`. */
  all?: boolean;
  /** Only images created before this time (docker's `until` filter). */
  until?: Date;
  /** Only images whose labels this accepts (docker's `label` and `label!` filters). */
  labels?: (labels: Record<string, string>) => boolean;
}

/**
 * `image prune`: dangling images (or all, with `all`) that no container uses and that the filters
 * accept, then every blob no image needs. Images that arrive meanwhile are not candidates.
 */
export async function pruneImages(images: ImageStore, containers: ContainerStore, options: PruneImagesOptions = {}): Promise<PruneResult> {
  const used = imagesInUse(containers);
  let chosen: Set<string> | undefined;
  if (options.until !== undefined || options.labels !== undefined) {
    chosen = new Set();
    for (const record of images.listImages()) {
      if (used.has(record.id) || (!options.all && record.names.length > 0)) continue;
      const config = await imageConfig(images, record).catch(() => undefined);
      if (config === undefined) continue; // gone meanwhile, or unreadable: not this prune's to judge
      const created = Date.parse(config.created ?? record.added);
      if (options.until !== undefined && !(created < options.until.getTime())) continue;
      if (options.labels !== undefined && !options.labels(config.config?.Labels ?? {})) continue;
      chosen.add(record.id);
    }
  }
  return images.prune({ all: options.all, inUse: (id) => used.has(id), ...(chosen ? { match: (r) => chosen.has(r.id) } : {}) });
}
