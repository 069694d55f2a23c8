// Image operations that depend on containers: an image is never removed from under a container
// that uses it. The CLI's rmi, prune and system df and the Engine API's DELETE /images share them.
import { BerthError, type ErrorKind } from '../errors.js';
import { parseLogTime } from './logs.js';
import { labelMatches } from './container-list.js';
import { formatPlatform, imageConfig, platformMatches, tryNormalize, type ImageStore, type PruneResult, type RemoveResult } from '../image/index.js';
import type { Platform } from '../oci/image-spec.js';
import type { ContainerStore } from './containers.js';

export class ImageInUseError extends BerthError {
  static override readonly kind: ErrorKind = 'conflict';
  override readonly name = 'ImageInUseError';
}

export class ImagePlatformError extends BerthError {
  // Not found, as dockerd answers it: a client then pulls the image for the platform it asked.
  static override readonly kind: ErrorKind = 'not-found';
  override readonly name = 'ImagePlatformError';
}

/** A create's platform (`docker run --platform`): the local image must be for it, never run regardless. */
export async function requireImagePlatform(images: ImageStore, ref: string, want: Platform): Promise<void> {
  const config = await imageConfig(images, ref);
  const actual: Platform = { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
  if (!platformMatches(actual, want)) {
    throw new ImagePlatformError(`image with reference ${ref} was found but does not match the specified platform: wanted ${formatPlatform(want)}, actual: ${formatPlatform(actual)}`);
  }
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
  /** Only images created before this time (ms since the epoch; docker's `until` filter). */
  until?: number;
  /** docker's label filters: `k`, `k=v` (all must match); `label!=`: none of these may. */
  labels?: string[];
  notLabels?: string[];
}

/** docker's image prune filters (`dangling`, `until`, `label`, `label!`), as key and value pairs, as options. */
export function imagePruneOptions(filters: [string, string][], all = false): PruneImagesOptions {
  const options: PruneImagesOptions = { all, labels: [], notLabels: [] };
  for (const [key, value] of filters) {
    if (key === 'dangling') {
      if (!['true', '1', 'false', '0'].includes(value)) throw new BerthError(`filter dangling=${value}: true or false`, { kind: 'invalid-argument' });
      options.all = value === 'false' || value === '0';
    } else if (key === 'until') {
      try {
        options.until = parseLogTime(value);
      } catch {
        throw new BerthError(`filter until=${value}: not a time (Unix seconds, RFC 3339 or a duration)`, { kind: 'invalid-argument' });
      }
    } else if (key === 'label') options.labels!.push(value);
    else if (key === 'label!') options.notLabels!.push(value);
    else throw new BerthError(`filter ${key}: image prune filters are dangling, until, label and label!`, { kind: 'invalid-argument' });
  }
  return options;
}

/**
 * `image prune`: dangling images (or all, with `all`) that no container uses and that the filters
 * accept, then every blob no image needs. Images that arrive meanwhile are not candidates.
 */
export async function pruneImages(images: ImageStore, containers: ContainerStore, options: PruneImagesOptions = {}): Promise<PruneResult> {
  const used = imagesInUse(containers);
  const labels = options.labels ?? [];
  const notLabels = options.notLabels ?? [];
  let chosen: Set<string> | undefined;
  if (options.until !== undefined || labels.length > 0 || notLabels.length > 0) {
    chosen = new Set();
    for (const record of images.listImages()) {
      if (used.has(record.id) || (!options.all && record.names.length > 0)) continue;
      const config = await imageConfig(images, record).catch(() => undefined);
      if (config === undefined) continue; // gone meanwhile, or unreadable: not this prune's to judge
      if (options.until !== undefined && !(Date.parse(config.created ?? record.added) < options.until)) continue;
      const own = config.config?.Labels ?? {};
      if (!labels.every((l) => labelMatches(own, l)) || notLabels.some((l) => labelMatches(own, l))) continue;
      chosen.add(record.id);
    }
  }
  return images.prune({ all: options.all, inUse: (id) => used.has(id), ...(chosen ? { match: (r) => chosen.has(r.id) } : {}) });
}

/**
 * `builder prune` (docker system prune's last step): the build cache's images (a build step's,
 * unnamed, ImageRecord.buildCache) that no container uses, then every blob no image needs.
 */
export async function pruneBuildCache(images: ImageStore, containers: ContainerStore): Promise<PruneResult> {
  const used = imagesInUse(containers);
  return images.prune({ all: false, inUse: (id) => used.has(id), match: (r) => r.buildCache === true });
}
