// What the tests of other engines (podman, containerd, containerd's CRI plugin) share: running
// their commands, undoing what a test made in the reverse order, their temp dirs, the dirs they
// make at fixed places, a cgroup parent of the test's own, and a private containerd.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { cgroupDirsOf, hostMountsUnder, processesMentioning, unique, waitFor } from './run.js';

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: string[], timeoutMs = 60_000): Run {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`${command}: ${r.error.message} (scripts/setup.sh installs it)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function ok(what: string, r: Run): string {
  assert.equal(r.status, 0, `${what}: exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

/**
 * `podman ARGS` with containers/image's blob-info cache, which is fixed at
 * /var/lib/containers/cache for root whatever --root says, on a tmpfs of a mount namespace of its
 * own, thrown away after: for a command that copies an image (import), never for one that starts
 * a container (conmon and the container would live in that namespace).
 */
export function podmanWithPrivateCache(args: string[]): Run {
  const over = ['/var/lib/containers/cache', '/var/lib/containers', '/var/lib'].find((d) => existsSync(d)) as string;
  return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs berth-test-cache "$1" && shift && exec "$@"', 'sh', over, 'podman', ...args]);
}

export type Undo = () => void | Promise<void>;

/**
 * Undo steps run after the test, last registered first (a container before the daemon that runs
 * it, the daemon before its dirs, the dirs before the cgroups of the processes that used them),
 * each one even when an earlier one failed; the first failure is the test's.
 */
export function undoStack(t: TestContext): (undo: Undo) => void {
  const stack: Undo[] = [];
  t.after(async () => {
    let failure: unknown;
    for (const undo of stack.reverse()) {
      try {
        await undo();
      } catch (err) {
        failure ??= err;
      }
    }
    if (failure !== undefined) throw failure;
  });
  return (undo) => void stack.push(undo);
}

/**
 * A temp dir for an engine's files; at the end nothing mounted under it, no process naming it
 * (the engine's helpers, which would write into it again), and it is removed.
 */
export function engineDir(defer: (undo: Undo) => void, name: string): string {
  const dir = mkdtempSync(`/tmp/berth-test-${name}-`);
  defer(async () => {
    try {
      await waitFor(`the processes naming ${dir} to end`, () => processesMentioning([dir]).length === 0, 20_000, 50);
      assert.deepEqual(hostMountsUnder(dir), [], `${name} left mounts`);
    } finally {
      for (const line of processesMentioning([dir])) process.kill(Number(line.split(':')[0]), 'SIGKILL');
      // What a failed run left mounted (a rootfs, a netns), deepest first: rm must not walk into it.
      for (const line of hostMountsUnder(dir).reverse()) spawnSync('umount', ['-l', line.split(' ')[4]]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return dir;
}

/**
 * When `dir` does not exist now (made by an engine on first use, at a place fixed in its code),
 * removes it at the end with the empty dirs the engine made in it: only empty ones, so that what
 * another user of the engine put there meanwhile stays.
 */
export function removeIfNew(defer: (undo: Undo) => void, dir: string): void {
  if (existsSync(dir)) return;
  const removeEmpty = (path: string): void => {
    for (const entry of readdirSync(path, { withFileTypes: true })) if (entry.isDirectory()) removeEmpty(join(path, entry.name));
    try {
      rmdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw err;
    }
  };
  defer(() => {
    if (existsSync(dir)) removeEmpty(dir);
  });
}

/** A cgroup parent of the test's own; at the end it and the engine's cgroups under it are removed. */
export function cgroupParent(defer: (undo: Undo) => void, name: string): string {
  const parent = `/${unique(name)}`;
  defer(async () => {
    // The engine's own cgroups under it (podman's `conmon`, a pod's), empty by now: processes still
    // in them (a failed run's) are killed, so that the host is clean, and named as the failure.
    const tree = (dir: string): string[] => [...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => tree(join(dir, e.name))), dir];
    const cgroups = cgroupDirsOf(parent).flatMap(tree);
    const procs = () => cgroups.flatMap((cg) => (existsSync(cg) ? readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : []));
    const stray = procs();
    if (stray.length) {
      for (const cg of cgroups) if (existsSync(join(cg, 'freezer.state'))) writeFileSync(join(cg, 'freezer.state'), 'THAWED');
      for (const pid of stray) spawnSync('kill', ['-9', pid]);
      await waitFor('the stray processes to die', () => procs().length === 0, 10_000, 20);
    }
    for (const cg of cgroups) rmdirSync(cg);
    if (stray.length) throw new Error(`processes were left in the test's cgroups under ${parent}: ${stray.join(' ')} (killed)`);
  });
  return parent;
}

export interface Containerd {
  socket: string;
  /** `ctr --address SOCKET ARGS`. */
  ctr(...args: string[]): Run;
  /** What the daemon wrote on stderr so far. */
  log(): string;
}

/**
 * A private containerd: its own root, state dir, sockets and config in `dir`, no debug or metrics
 * listener, stopped (SIGTERM, then waited for) by an undo step registered here. The CRI plugin is
 * disabled unless `cri` gives the lines of its config (`[plugins."io.containerd.grpc.v1.cri"]...`).
 */
export async function startContainerd(defer: (undo: Undo) => void, dir: string, cri?: string[]): Promise<Containerd> {
  const socket = join(dir, 'containerd.sock');
  const disabled = [
    ...(cri ? [] : ['io.containerd.grpc.v1.cri']),
    'io.containerd.snapshotter.v1.btrfs', 'io.containerd.snapshotter.v1.zfs', 'io.containerd.snapshotter.v1.devmapper',
    'io.containerd.snapshotter.v1.aufs', 'io.containerd.internal.v1.tracing', 'io.containerd.tracing.processor.v1.otlp',
  ];
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      // No snapshotters for other filesystems, no tracing.
      `disabled_plugins = ${JSON.stringify(disabled)}`,
      `[grpc]\n  address = "${socket}"`,
      `[ttrpc]\n  address = "${socket}.ttrpc"`,
      '[debug]\n  address = ""',
      '[metrics]\n  address = ""',
      ...(cri ?? []),
      '',
    ].join('\n'),
  );
  const ctr = (...args: string[]) => run('ctr', ['--address', socket, ...args]);
  const log = await startDaemon(defer, 'containerd', ['--config', join(dir, 'config.toml'), '--log-level', 'warn'], () => ctr('version').status === 0, 20_000);
  return { socket, ctr, log };
}

/**
 * Starts a daemon and waits until `serving()` (or its early end, which fails with its stderr).
 * An undo step registered here stops it (SIGTERM) and waits for its exit. Returns its stderr so far.
 */
export async function startDaemon(defer: (undo: Undo) => void, command: string, args: string[], serving: () => boolean, timeoutMs: number): Promise<() => string> {
  const daemon = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  daemon.stderr.on('data', (d: Buffer) => (log += d));
  const exited = new Promise<void>((resolve) => daemon.on('exit', () => resolve()));
  defer(async () => {
    daemon.kill('SIGTERM');
    await exited;
  });
  await waitFor(`${command} to serve its socket`, () => serving() || daemon.exitCode !== null, timeoutMs, 50);
  assert.equal(daemon.exitCode, null, `${command} ended: ${log}`);
  return () => log;
}
