// Which cgroup layout the host has, read from /proc/self/mountinfo (the seed's `mount | grep cgroup`).
import { readFileSync } from 'node:fs';

export interface V1Hierarchy {
  mountpoint: string;
  /** Controllers bound to it (`cpu`, `cpuacct`) or a named hierarchy (`name=systemd`). */
  controllers: string[];
}

export interface CgroupLayout {
  /** unified: only cgroup2; legacy: only v1; hybrid: v1 controllers with a cgroup2 mount beside them. */
  mode: 'unified' | 'legacy' | 'hybrid';
  v1: V1Hierarchy[];
  /** Where cgroup2 is mounted, if it is. */
  v2: string | null;
}

/** Decodes mountinfo's octal escapes (`\040` for a space). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseCgroupLayout(mountinfo: string): CgroupLayout {
  const v1: V1Hierarchy[] = [];
  let v2: string | null = null;
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const fields = line.slice(0, dash).split(' ');
    const [fstype, , superOptions = ''] = line.slice(dash + 3).split(' ');
    const mountpoint = unescape(fields[4]);
    if (fstype === 'cgroup2') v2 ??= mountpoint;
    else if (fstype === 'cgroup') {
      const controllers = superOptions.split(',').filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent=') && o !== 'clone_children' && o !== 'noprefix' && o !== 'xattr');
      if (!v1.some((h) => h.mountpoint === mountpoint)) v1.push({ mountpoint, controllers });
    }
  }
  const mode = v1.length === 0 ? 'unified' : v2 === null ? 'legacy' : 'hybrid';
  return { mode, v1, v2 };
}

let cached: CgroupLayout | undefined;

/** The layout of this process's mount namespace (read once). */
export function detectCgroupLayout(): CgroupLayout {
  cached ??= parseCgroupLayout(readFileSync('/proc/self/mountinfo', 'utf8'));
  return cached;
}
