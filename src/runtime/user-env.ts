// The process environment as runc completes it: HOME from the image's /etc/passwd when it is unset.
import { readFileSync } from 'node:fs';
import { resolveInRoot } from './root-path.js';
import type { Process } from '../oci/runtime-spec.js';

function homeOf(rootfs: string, uid: number): string {
  try {
    const passwd = readFileSync(resolveInRoot(rootfs, '/etc/passwd'), 'utf8');
    for (const line of passwd.split('\n')) {
      const fields = line.split(':');
      if (fields.length >= 6 && Number(fields[2]) === uid && fields[5]) return fields[5];
    }
  } catch {
    // no passwd in the image: "/" as runc does
  }
  return '/';
}

export function processEnv(proc: Process, rootfs: string): string[] {
  const env = proc.env ?? [];
  if (env.some((e) => e.startsWith('HOME='))) return env;
  return [...env, `HOME=${homeOf(rootfs, proc.user?.uid ?? 0)}`];
}

/** The PATH the executable is looked up in: the process's own, else the usual default. */
export function searchPath(env: string[]): string {
  const path = env.find((e) => e.startsWith('PATH='));
  return path ? path.slice(5) : '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
}
