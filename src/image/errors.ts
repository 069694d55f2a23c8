// Errors of the image store and its formats: one line that names what was wrong (the file, the
// digest, the field, the reference).
import { BerthError, type ErrorKind } from '../errors.js';

export class ImageError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override get name(): string {
    return this.constructor.name;
  }
}

/** A reference that docker would refuse too. */
export class InvalidReferenceError extends ImageError {}

/** Content that is not what it claims to be: a digest, a size, a diff_id that does not match. */
export class DigestError extends ImageError {}

/** No image, blob or reference by that name in the store. */
export class NotFoundError extends ImageError {
  static override readonly kind: ErrorKind = 'not-found';
}
