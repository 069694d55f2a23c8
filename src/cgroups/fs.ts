// Reading and writing cgroupfs files. Writes open without O_CREAT (the kernel makes a cgroup's
// files at mkdir; a missing one is a missing controller) and send the value in one write(2),
// since the kernel parses each write on its own.
import { closeSync, constants, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export function writeCgroupFile(path: string, value: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_TRUNC);
  try {
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/** The file's text without its trailing newline; undefined when the file does not exist. */
export function readCgroupFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').replace(/\n$/, '');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** A flat-keyed file (`cpu.stat`, `memory.events`, `cgroup.events`): "key value" per line. */
export function readKeyed(path: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of (readCgroupFile(path) ?? '').split('\n')) {
    const [key, value] = line.trim().split(/\s+/);
    if (key && value !== undefined) values.set(key, Number(value));
  }
  return values;
}

/** A single-number file; `max` (and v1's "unlimited", anything ≥ 2^62) is undefined. */
export function readLimit(path: string): number | undefined {
  const text = readCgroupFile(path);
  if (text === undefined || text === 'max' || text === '') return undefined;
  const n = Number(text);
  return Number.isFinite(n) && n < 2 ** 62 ? n : undefined;
}

export function readNumber(path: string): number {
  const n = Number(readCgroupFile(path) ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** The words of a space-separated list file (`cgroup.controllers`, `cgroup.subtree_control`). */
export function readWords(path: string): string[] {
  return (readCgroupFile(path) ?? '').split(/\s+/).filter(Boolean);
}

/** The processes listed in `dir/cgroup.procs`; none when the directory is gone. */
export function readProcs(dir: string): number[] {
  return readWords(join(dir, 'cgroup.procs')).map(Number);
}

/** The child cgroups of `dir`, deepest first (the order rmdir needs), then `dir` itself. */
export function cgroupTree(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return [...entries.filter((e) => e.isDirectory()).flatMap((e) => cgroupTree(join(dir, e.name))), dir];
}

export function isErrno(err: unknown, code: string): boolean {
  return (err as NodeJS.ErrnoException)?.code === code;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The ancestors of a cgroupfs-relative path, root excluded, then the path: `/a/b` → [`/a`, `/a/b`]. */
export function pathChain(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}
