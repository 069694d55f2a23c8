// OCI mount options ("ro", "nosuid", "rbind", "mode=755"...) → mount(2) flags, propagation and data.
import { MS } from '../kernel/plan.js';

export interface ParsedMountOptions {
  /** Flags set by options, for the mount itself. */
  flags: number;
  /** Flags cleared by options ("rw", "suid"...): they matter for a bind's remount. */
  cleared: number;
  /** Propagation flags, applied by a separate mount call (the kernel takes them alone). */
  propagation: number;
  bind: boolean;
  recursive: boolean;
  /** What is not a flag goes to the filesystem, comma-joined ("mode=755,size=65536k"). */
  data: string;
}

const SET: Record<string, number> = {
  ro: MS.RDONLY,
  nosuid: MS.NOSUID,
  nodev: MS.NODEV,
  noexec: MS.NOEXEC,
  sync: MS.SYNCHRONOUS,
  dirsync: MS.DIRSYNC,
  remount: MS.REMOUNT,
  mand: MS.MANDLOCK,
  noatime: MS.NOATIME,
  nodiratime: MS.NODIRATIME,
  relatime: MS.RELATIME,
  strictatime: MS.STRICTATIME,
  nosymfollow: MS.NOSYMFOLLOW,
  lazytime: MS.LAZYTIME,
  silent: MS.SILENT,
};

const CLEAR: Record<string, number> = {
  rw: MS.RDONLY,
  suid: MS.NOSUID,
  dev: MS.NODEV,
  exec: MS.NOEXEC,
  async: MS.SYNCHRONOUS,
  nomand: MS.MANDLOCK,
  atime: MS.NOATIME,
  diratime: MS.NODIRATIME,
  norelatime: MS.RELATIME,
  nostrictatime: MS.STRICTATIME,
  symfollow: MS.NOSYMFOLLOW,
  loud: MS.SILENT,
  defaults: 0,
};

const PROPAGATION: Record<string, number> = {
  private: MS.PRIVATE,
  rprivate: MS.PRIVATE | MS.REC,
  shared: MS.SHARED,
  rshared: MS.SHARED | MS.REC,
  slave: MS.SLAVE,
  rslave: MS.SLAVE | MS.REC,
  unbindable: MS.UNBINDABLE,
  runbindable: MS.UNBINDABLE | MS.REC,
};

/** Options a runtime handles itself or that only tell engines something: not passed to the kernel. */
const IGNORED = new Set(['tmpcopyup', 'copyup', 'nocopy', 'notmpcopyup', 'z', 'Z', 'U']);

export function parseMountOptions(options: readonly string[] = []): ParsedMountOptions {
  const out: ParsedMountOptions = { flags: 0, cleared: 0, propagation: 0, bind: false, recursive: false, data: '' };
  const data: string[] = [];
  for (const option of options) {
    if (option === 'bind' || option === 'rbind') {
      out.bind = true;
      out.recursive ||= option === 'rbind';
    } else if (option in SET) {
      out.flags |= SET[option];
      out.cleared &= ~SET[option];
    } else if (option in CLEAR) {
      out.flags &= ~CLEAR[option];
      out.cleared |= CLEAR[option];
    } else if (option in PROPAGATION) {
      out.propagation = PROPAGATION[option];
    } else if (!IGNORED.has(option)) {
      data.push(option);
    }
  }
  out.data = data.join(',');
  return out;
}

/** The propagation named by linux.rootfsPropagation ("rslave"...), as flags. */
export function propagationFlags(name: string): number {
  const flags = PROPAGATION[name];
  if (flags === undefined) throw new Error(`unknown propagation ${name}`);
  return flags;
}
