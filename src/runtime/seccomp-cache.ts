// Compiled seccomp filters kept on disk, by a hash of the profile: berth-runtime is a new Node
// process for every command, and compiling Docker's default profile costs milliseconds, while
// reading and checking a cached program costs a fraction of one. The cache lives under the
// runtime's root (a tmpfs, /run/berth-runtime/.seccomp: the dot keeps it from reading as a
// container id), each entry written by rename and verified by its own hash before it is used:
// a truncated or damaged entry is compiled again and replaced, never loaded.
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { nativeArchitecture } from '../kernel/seccomp.js';
import type { Seccomp } from '../oci/runtime-spec.js';

/** What a profile compiles to; the flags and the listener are read from the spec each time. */
export interface CompiledProfile {
  program: Buffer;
  /** Some rule is SCMP_ACT_NOTIFY: the filter needs a listener. */
  notify: boolean;
  summary: string;
  skipped: string[];
}

/** Bump when what a profile compiles to changes for the same profile and libseccomp. */
const FORMAT = 1;
const MAGIC = Buffer.from('BRTHSCMP');
const HASH_BYTES = 32;

interface EntryMeta {
  key: string;
  notify: boolean;
  summary: string;
  skipped: string[];
  programBytes: number;
}

// node:crypto is loaded on first use, not at import: loading it costs every berth-runtime command
// about 5 ms of start (issue 17), and only a spec with a seccomp profile hashes anything.
let crypto: typeof import('node:crypto') | undefined;

function sha256(data: string | Buffer): Buffer {
  crypto ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return crypto.createHash('sha256').update(data).digest();
}

export class SeccompCache {
  constructor(readonly dir: string) {}

  /**
   * The profile's key: everything the program depends on (the rules, the default, the
   * architectures), the libseccomp version and the native architecture. The same profile written
   * with its keys in another order is another entry, which costs one compile.
   */
  static keyOf(profile: Seccomp, libseccomp: string): string {
    const input = JSON.stringify([FORMAT, libseccomp, nativeArchitecture(), profile.defaultAction, profile.defaultErrnoRet ?? null, profile.architectures ?? [], profile.syscalls ?? []]);
    return sha256(input).toString('hex');
  }

  private path(key: string): string {
    return join(this.dir, `${key}.bpf`);
  }

  /** The entry for `key`, or null when there is none or it does not verify. */
  load(key: string): CompiledProfile | null {
    let file: Buffer;
    try {
      file = readFileSync(this.path(key));
    } catch {
      // A cache: an entry missing or unreadable for any reason is compiled again, and rewritten.
      return null;
    }
    return decodeEntry(file, key);
  }

  /** Best effort: a cache that cannot be written only costs the next start a compile. */
  store(key: string, entry: CompiledProfile): void {
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      writeFileAtomic(this.path(key), encodeEntry(key, entry), 0o600);
    } catch {
      // read-only or full root: compile again next time
    }
  }
}

/** MAGIC, sha256 of the body, body = u32 length of the JSON meta, the meta, the program. */
export function encodeEntry(key: string, entry: CompiledProfile): Buffer {
  const meta: EntryMeta = { key, notify: entry.notify, summary: entry.summary, skipped: entry.skipped, programBytes: entry.program.length };
  const metaBytes = Buffer.from(JSON.stringify(meta));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(metaBytes.length);
  const body = Buffer.concat([length, metaBytes, entry.program]);
  return Buffer.concat([MAGIC, sha256(body), body]);
}

export function decodeEntry(file: Buffer, key: string): CompiledProfile | null {
  const head = MAGIC.length + HASH_BYTES;
  if (file.length < head + 4 || !file.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const body = file.subarray(head);
  if (!sha256(body).equals(file.subarray(MAGIC.length, head))) return null;
  const metaLength = body.readUInt32LE(0);
  if (4 + metaLength > body.length) return null;
  let meta: EntryMeta;
  try {
    meta = JSON.parse(body.subarray(4, 4 + metaLength).toString('utf8')) as EntryMeta;
  } catch {
    return null; // a damaged entry (its checksum matched, its JSON did not): compiled again
  }
  const program = body.subarray(4 + metaLength);
  if (meta.key !== key || meta.programBytes !== program.length || program.length === 0 || program.length % 8 !== 0) return null;
  return { program, notify: meta.notify === true, summary: String(meta.summary), skipped: Array.isArray(meta.skipped) ? meta.skipped.map(String) : [] };
}
