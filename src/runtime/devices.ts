// /dev inside the container: the default device nodes, the spec's devices, and the usual symlinks.
import { existsSync } from 'node:fs';
import { MS, type Step } from '../kernel/plan.js';
import type { Device } from '../oci/runtime-spec.js';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** The devices every container gets (runc's list): harmless character devices. */
export const DEFAULT_DEVICES: Device[] = [
  { type: 'c', path: '/dev/null', major: 1, minor: 3, fileMode: 0o666 },
  { type: 'c', path: '/dev/zero', major: 1, minor: 5, fileMode: 0o666 },
  { type: 'c', path: '/dev/full', major: 1, minor: 7, fileMode: 0o666 },
  { type: 'c', path: '/dev/random', major: 1, minor: 8, fileMode: 0o666 },
  { type: 'c', path: '/dev/urandom', major: 1, minor: 9, fileMode: 0o666 },
  { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o666 },
];

function typeBits(type: Device['type']): number {
  return type === 'b' ? S_IFBLK : type === 'p' ? S_IFIFO : S_IFCHR;
}

/**
 * One step per device: mknod, or, in a user namespace (where mknod is not allowed), a bind mount
 * of the host's node onto an empty file, as runc does.
 */
export function deviceSteps(specDevices: Device[], inUserNs: boolean): Step[] {
  const byPath = new Map<string, Device>();
  for (const d of [...DEFAULT_DEVICES, ...specDevices]) byPath.set(d.path, d);
  return [...byPath.values()].map((d): Step =>
    inUserNs
      ? { op: 'mount', source: { path: d.path }, target: { inRoot: d.path }, fstype: null, flags: MS.BIND, data: null, create: 'file' }
      : {
          op: 'mknod',
          path: { inRoot: d.path },
          mode: typeBits(d.type) | ((d.fileMode ?? 0o666) & 0o7777),
          major: d.major ?? 0,
          minor: d.minor ?? 0,
          uid: d.uid ?? 0,
          gid: d.gid ?? 0,
        },
  );
}

/** /dev/fd, stdin, stdout, stderr; /dev/ptmx when devpts is mounted; /dev/core when the host has /proc/kcore. */
export function devSymlinkSteps(hasDevpts: boolean): Step[] {
  const links: [string, string][] = [
    ['/proc/self/fd', '/dev/fd'],
    ['/proc/self/fd/0', '/dev/stdin'],
    ['/proc/self/fd/1', '/dev/stdout'],
    ['/proc/self/fd/2', '/dev/stderr'],
  ];
  if (existsSync('/proc/kcore')) links.push(['/proc/kcore', '/dev/core']);
  if (hasDevpts) links.push(['pts/ptmx', '/dev/ptmx']);
  return links.map(([target, path]) => ({ op: 'symlink', target, path: { inRoot: path } }));
}
