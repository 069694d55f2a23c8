// Leases: what a running load, import, commit or pull has put in the store but not yet made part
// of an image record. Garbage collection leaves leased blobs alone, so that a `berth image prune`
// in another process cannot take a layer from under a load in progress. A lease is a file under
// <root>/leases/: its holder (`pid starttime`) on the first line, then one digest a line. A lease
// whose holder is gone (crashed) protects nothing and is removed by the next collection.
import { appendFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Digest } from '../oci/image-spec.js';
import { holderAlive, holderId } from '../fs/lock.js';
import { isMissing } from '../errors.js';

export class Lease {
  /** Blobs this lease's holder wrote (they were not in the store before): what a rollback removes. */
  readonly created = new Set<Digest>();
  private readonly digests = new Set<Digest>();
  private released = false;

  constructor(readonly file: string) {}

  /** Protects `digest` from collection from now on. Must come before the blob appears or is reused. */
  add(digest: Digest): void {
    if (this.released) throw new Error(`lease ${this.file} used after release`);
    if (this.digests.has(digest)) return;
    appendFileSync(this.file, `${digest}\n`);
    this.digests.add(digest);
  }

  has(digest: Digest): boolean {
    return this.digests.has(digest);
  }

  release(): void {
    this.released = true;
    rmSync(this.file, { force: true });
  }
}

export function createLease(dir: string): Lease {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = `${process.pid}-${randomBytes(6).toString('hex')}`;
  // Written aside and renamed in: a collector never sees a lease without its holder line.
  writeFileSync(join(dir, `.${name}`), `${holderId()}\n`, { mode: 0o600, flag: 'wx' });
  renameSync(join(dir, `.${name}`), join(dir, name));
  return new Lease(join(dir, name));
}

/** Digests held by live leases other than `except`; leases of dead holders are removed on the way. */
export function leasedDigests(dir: string, except?: Lease): Set<Digest> {
  const held = new Set<Digest>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return held; // no lease was ever taken
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const file = join(dir, name);
    if (except !== undefined && file === except.file) continue;
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').split('\n');
    } catch (err) {
      if (!isMissing(err)) throw err;
      continue; // released meanwhile
    }
    if (!holderAlive(lines[0] ?? '')) {
      rmSync(file, { force: true });
      continue;
    }
    for (const line of lines.slice(1)) if (line !== '') held.add(line);
  }
  return held;
}
