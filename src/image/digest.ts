// Digests: `sha256:<64 hex>`, the only algorithm the store keeps (as docker and containerd do).
import { createHash } from 'node:crypto';
import type { Digest } from '../oci/image-spec.js';
import { DigestError } from './errors.js';

const SHA256 = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && SHA256.test(value);
}

/** The hex part of a sha256 digest; refuses anything else, naming `what` it was. */
export function digestHex(digest: string, what = 'digest'): string {
  if (!isDigest(digest)) {
    const algorithm = /^([a-z0-9+._-]+):/.exec(digest)?.[1];
    if (algorithm !== undefined && algorithm !== 'sha256') throw new DigestError(`${what} ${digest}: unsupported digest algorithm ${algorithm} (berth keeps sha256)`);
    throw new DigestError(`${what} ${JSON.stringify(digest)}: not a sha256 digest (sha256: and 64 lowercase hex digits)`);
  }
  return digest.slice('sha256:'.length);
}

export function sha256(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** chainID(1) = diffID(1); chainID(n) = sha256(chainID(n-1) + " " + diffID(n)) (image-spec config.md). */
export function chainIDs(diffIDs: readonly Digest[]): Digest[] {
  const chain: Digest[] = [];
  for (const diffID of diffIDs) chain.push(chain.length === 0 ? diffID : sha256(`${chain[chain.length - 1]} ${diffID}`));
  return chain;
}

/** A hash that can be fed chunk by chunk, for streams read once. */
export class Sha256Counter {
  private readonly hash = createHash('sha256');
  size = 0;

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
  }

  digest(): Digest {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
