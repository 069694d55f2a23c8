// Running berth-runtime as engines do, a child process per command, and checking what a command
// left behind on the host: state entries, processes, mounts.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { detectCgroupLayout } from '../../src/cgroups/detect.js';

/**
 * The CLI as built (this file runs from dist/test/helpers/): the installed executable, the esbuild
 * bundle dist/bin/berth-runtime.mjs, when it is at least as new as tsc's output; otherwise (after a
 * bare `tsc -p .`) tsc's dist/src/cli/berth-runtime.js, the same code, so that a stale bundle is
 * never what gets tested.
 */
export const CLI = chooseCli(
  fileURLToPath(new URL('../../bin/berth-runtime.mjs', import.meta.url)),
  fileURLToPath(new URL('../../src/cli/berth-runtime.js', import.meta.url)),
);

function chooseCli(bundled: string, compiled: string): string {
  const mtime = (path: string) => {
    try {
      return statSync(path).mtimeMs;
    } catch {
      return -1;
    }
  };
  return mtime(bundled) >= mtime(compiled) ? bundled : compiled;
}

export interface Result {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** An fd for the command's stdout (and so for a created container's): the result's stdout is then empty. */
  stdout?: number;
  timeoutMs?: number;
  /** The command's stdin (`update -r -`); without it, stdin is /dev/null. */
  input?: string;
}

let scratch: string | undefined;

/** A directory of this test process for output files, removed when it exits. */
export function scratchDir(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync('/tmp/berth-test-out-');
    scratch = dir;
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

let calls = 0;

/**
 * `berth-runtime --root ROOT ARGS...`. Output goes through files, not pipes: a container that
 * outlives the command (create, run --detach) inherits them, and a pipe would keep the call waiting.
 */
export function runtimeWith(root: string, args: string[], opts: RunOptions = {}): Result {
  const base = join(scratchDir(), `call-${++calls}`);
  const outFd = opts.stdout ?? openSync(`${base}.out`, 'w+');
  const errFd = openSync(`${base}.err`, 'w+');
  try {
    const r = spawnSync(process.execPath, [CLI, '--root', root, ...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', outFd, errFd],
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
    });
    if (r.error) throw r.error;
    return {
      status: r.status,
      signal: r.signal,
      stdout: opts.stdout === undefined ? readFileSync(`${base}.out`, 'utf8') : '',
      stderr: readFileSync(`${base}.err`, 'utf8'),
    };
  } finally {
    if (opts.stdout === undefined) {
      closeSync(outFd);
      rmSync(`${base}.out`, { force: true });
    }
    closeSync(errFd);
    rmSync(`${base}.err`, { force: true });
  }
}

export function runtime(root: string, ...args: string[]): Result {
  return runtimeWith(root, args);
}

/** A command's result as a message for a failed assertion. */
export function show(r: Result): string {
  return `exit ${r.status ?? r.signal}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** Like `runtime`, but asserts exit 0 and returns stdout. */
export function runtimeOk(root: string, ...args: string[]): string {
  const r = runtime(root, ...args);
  if (r.status !== 0) throw new Error(`berth-runtime ${args.join(' ')} failed: ${show(r)}`);
  return r.stdout;
}

export interface Background {
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
  /** What it wrote so far (stdout and stderr together). */
  output(): string;
}

/** `berth-runtime` left running (a foreground `run` to signal); its output goes to a file. */
export function runtimeInBackground(root: string, args: string[]): Background {
  const file = join(scratchDir(), `bg-${++calls}.out`);
  const fd = openSync(file, 'w+');
  const child = spawn(process.execPath, [CLI, '--root', root, ...args], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid as number,
    exited,
    kill: (signal) => child.kill(signal),
    output: () => readFileSync(file, 'utf8'),
  };
}

/** The last non-empty line of a text. */
export function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines[lines.length - 1] ?? '';
}

/** Polls `check` every `intervalMs` until it returns true; throws naming `what` after `ms`. */
export async function waitFor(what: string, check: () => boolean, ms = 10_000, intervalMs = 10): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * A `--root` state dir of the test's own. Afterwards every container still listed in it is
 * deleted with --force, then the dir is removed.
 */
export function tempRoot(t: TestContext): string {
  const root = mkdtempSync('/tmp/berth-test-root-');
  t.after(() => {
    for (const id of containerIds(root)) runtime(root, 'delete', '--force', id);
    rmSync(root, { recursive: true, force: true });
  });
  return root;
}

/** The ids with an entry in the state dir (a dot entry is the runtime's own: its seccomp cache). */
export function containerIds(root: string): string[] {
  try {
    return readdirSync(root).filter((name) => !name.startsWith('.'));
  } catch {
    return [];
  }
}

export function isAlivePid(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Processes (pid: cmdline) whose command line holds any of `marks` (a bundle path, a unique word). */
export function processesMentioning(marks: string[]): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (!isAlivePid(Number(name))) continue;
    if (marks.some((m) => cmdline.includes(m))) found.push(`${name}: ${cmdline}`);
  }
  return found;
}

/**
 * Processes whose root directory is `dir` (a rootfs): a container's processes, pivoted or
 * chrooted, found by the inode of /proc/PID/root whatever the state dir says.
 */
export function processesRootedAt(dir: string): number[] {
  let want: { dev: number; ino: number };
  try {
    want = statSync(dir);
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const st = statSync(`/proc/${name}/root`);
      if (st.dev === want.dev && st.ino === want.ino && isAlivePid(Number(name))) found.push(Number(name));
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

/** Lines of the host's /proc/self/mountinfo that mention `path`. */
export function hostMountsUnder(path: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(path));
}

/**
 * Every cgroup hierarchy mounted on this host: each v1 hierarchy and the cgroup2 mount (on a hybrid
 * host the runtime places a container in both; on a pure v2 host cgroup2 is the only one).
 */
export function cgroupMounts(): string[] {
  const layout = detectCgroupLayout();
  return [...layout.v1.map((h) => h.mountpoint), ...(layout.v2 ? [layout.v2] : [])];
}

/** The directories of cgroup `path` (`/berth/ID`) in every hierarchy that has it. */
export function cgroupDirsOf(path: string): string[] {
  return cgroupMounts()
    .map((mount) => join(mount, path))
    .filter((dir) => existsSync(dir));
}

/**
 * Cgroup directories, anywhere in every hierarchy mounted here (each v1 one and the v2 tree), whose
 * name holds one of the marks that can be a cgroup's name (an id, not a path): a container's
 * `/berth/<id>`, `/berth-test/<id>`, a systemd-form `berth-<id>.scope`.
 */
export function cgroupsMentioning(marks: string[]): string[] {
  const names = marks.filter((m) => m !== '' && !m.includes('/'));
  const found: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while walked
      throw err;
    }
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const path = join(dir, entry.name);
      if (names.some((name) => entry.name.includes(name))) found.push(path);
      else walk(path);
    }
  };
  if (names.length > 0) for (const mount of cgroupMounts()) walk(mount);
  return found;
}

/**
 * Everything a failed command must not leave: entries in the state dir, processes mentioning the
 * marks (a bundle path, an id) or rooted in the rootfs, mounts mentioning the marks on the host,
 * cgroups named after a mark in any hierarchy. Empty when clean.
 */
export function leftovers(root: string, marks: string[], rootfs?: string): string[] {
  return [
    ...containerIds(root).map((id) => `state dir entry ${join(root, id)}`),
    ...processesMentioning(marks).map((p) => `process ${p}`),
    ...(rootfs ? processesRootedAt(rootfs) : []).map((pid) => `process ${pid} rooted in ${rootfs}`),
    ...marks.flatMap(hostMountsUnder).map((m) => `mount ${m}`),
    ...cgroupsMentioning(marks).map((dir) => `cgroup ${dir}`),
  ];
}

/** A word for ids, hostnames and markers that no other test uses. */
export function unique(prefix: string): string {
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}
