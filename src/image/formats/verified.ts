// What a loader hands back: an image verified and stored blob by blob, ready to be recorded.
import type { Digest } from '../../oci/image-spec.js';
import type { NewImage } from '../store.js';

export interface VerifiedImage extends NewImage {
  /** Its config's digest: the image id. */
  id: Digest;
}
