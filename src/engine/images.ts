// Image operations that depend on containers: an image is never removed from under a container
// that uses it. The CLI's rmi, prune and system df and the Engine API's DELETE /images share them.
import { BerthError, type ErrorKind } from '../errors.js';
import { tryNormalize, type ImageStore, type RemoveResult } from '../image/index.js';
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

