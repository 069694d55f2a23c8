// The README's promise that engines drive berth-runtime as they drive runc, kept by running them:
// Debian's podman (through conmon) and containerd (through its runc shim, containerd-shim-runc-v2),
// each given dist/bin/berth-runtime in place of runc, on a busybox image built here from
// busybox-static. Each test proves that berth-runtime is what ran, not a runc or crun that the
// engine could have fallen back to: while the container runs, `berth-runtime state` (reading the
// state dir the engine's calls wrote) reports it running with the pid the engine reports.
//
// Nothing is left on the host: podman keeps its storage, run root, tmp dir and network config in a
// temp dir and runs with --network none; containerd is a private daemon with its own root, state
// dir and socket, stopped at the end; the cgroups both make (the test's parent, podman's conmon
// cgroup under it) are removed, and so are the dirs they make on first use at fixed places.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON, writeDockerSaveFixture } from './helpers/image-fixture.js';
import { busyboxRootfsTar, PROJECT } from './helpers/berth-cli.js';
import { cgroupParent, engineDir, ok, podmanWithPrivateCache, removeIfNew, run, startContainerd, undoStack } from './helpers/engines.js';
import { cgroupDirsOf, isAlivePid, runtime, show, unique, waitFor } from './helpers/run.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;

/** The installed launcher, as an engine is given it: an absolute path to an executable. */
const BERTH_RUNTIME = join(PROJECT, 'dist/bin/berth-runtime');
/** berth-runtime's state dir when no --root is given: podman passes none. */
const DEFAULT_RUNTIME_ROOT = '/run/berth-runtime';

/** The limits podman asks for by default (1048576 open files) are above the hard limit of a root
 * without CAP_SYS_RESOURCE (this host's), which runc and crun refuse as berth-runtime does. */
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

/** A PID 1 that SIGTERM ends with status 7: a stop that exits 7 was the signal, not the SIGKILL after it. */
const STOPPABLE = ['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done'];

/** /proc/PID/cmdline of a process started with `args`. */
const cmdline = (args: string[]) => args.map((a) => `${a}\0`).join('');

test('podman --runtime berth-runtime: run --rm, then run -d, exec, stop and rm, on a busybox image', { skip }, async (t) => {
  const defer = undoStack(t);
  const parent = cgroupParent(defer, 'berth-test-podman');
  const dir = engineDir(defer, 'podman');
  const global = [
    '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'),
    '--network-config-dir', join(dir, 'net'), '--volumepath', join(dir, 'volumes'),
    '--storage-driver', 'overlay', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none',
    '--runtime', BERTH_RUNTIME,
  ];
  const podman = (...args: string[]) => run('podman', [...global, ...args]);
  const image = 'localhost/berth-test/busybox:podman';
  ok('podman import', podmanWithPrivateCache([...global, 'import', busyboxRootfsTar(t), image]));
  const runFlags = ['--network', 'none', '--cgroup-parent', parent, ...ULIMITS];

  // run --rm, in the foreground: the container waits on a FIFO while berth-runtime's state is read.
  const io = join(dir, 'io');
  mkdirSync(io);
  ok('mkfifo', run('mkfifo', [join(io, 'go')]));
  const cidFile = join(dir, 'cid');
  const foreground = spawn('podman', [
    ...global, 'run', '--rm', '--cidfile', cidFile, '-v', `${io}:/io`, ...runFlags, image,
    'sh', '-c', 'echo ready > /io/ready; read word < /io/go; echo "podman ran me: $word"; ulimit -n; exit 3',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  foreground.stdout.on('data', (d: Buffer) => (out += d));
  foreground.stderr.on('data', (d: Buffer) => (err += d));
  const exited = new Promise<number | null>((resolve) => foreground.on('exit', (code) => resolve(code)));
  defer(async () => {
    if (foreground.exitCode !== null || foreground.signalCode !== null) return;
    // The container removed under it, podman run ends by itself (killed, it would leave its
    // cleanup to conmon's exit command, which runs later and writes into the dir again).
    if (existsSync(cidFile)) podman('rm', '-f', '-t', '0', readFileSync(cidFile, 'utf8').trim());
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    foreground.kill('SIGKILL');
    await exited;
  });
  await waitFor('the podman container to start', () => existsSync(join(io, 'ready')) || foreground.exitCode !== null, 30_000, 20);
  assert.ok(existsSync(join(io, 'ready')), `podman run ended before its container started: exit ${foreground.exitCode}\n${err}`);
  const id = readFileSync(cidFile, 'utf8').trim();
  const state = runtime(DEFAULT_RUNTIME_ROOT, 'state', id);
  assert.equal(state.status, 0, `berth-runtime has no state for podman's container ${id}: ${show(state)}`);
  assert.equal(JSON.parse(state.stdout).status, 'running');
  writeFileSync(join(io, 'go'), 'yes\n');
  assert.equal(await exited, 3, err);
  assert.equal(out, 'podman ran me: yes\n1024\n');
  assert.equal(existsSync(join(DEFAULT_RUNTIME_ROOT, id)), false, 'berth-runtime state left after run --rm');

  // run -d, exec, stop (SIGTERM reaches the shell: its trap's exit code, not SIGKILL's 137), rm.
  const detached = ok('podman run -d', podman('run', '-d', ...runFlags, image, ...STOPPABLE)).trim();
  let removed = false;
  defer(() => void (removed || podman('rm', '-f', detached)));
  const pid = Number(ok('podman inspect', podman('inspect', '-f', '{{.State.Pid}}', detached)).trim());
  const seen = JSON.parse(ok('berth-runtime state', runtime(DEFAULT_RUNTIME_ROOT, 'state', detached)));
  assert.deepEqual([seen.status, seen.pid], ['running', pid]);
  // The exec'd process sees the container's PID 1: it joined the container's pid namespace.
  const exec = podman('exec', detached, 'sh', '-c', 'cat /proc/1/cmdline; exit 5');
  assert.equal(exec.status, 5, exec.stderr);
  assert.equal(exec.stdout, cmdline(STOPPABLE));
  ok('podman stop', podman('stop', '-t', '20', detached));
  assert.equal(podman('inspect', '-f', '{{.State.ExitCode}}', detached).stdout.trim(), '7');
  ok('podman rm', podman('rm', detached));
  removed = true;
  assert.equal(isAlivePid(pid), false);
  assert.equal(existsSync(join(DEFAULT_RUNTIME_ROOT, detached)), false, 'berth-runtime state left after rm');
  assert.deepEqual(cgroupDirsOf(`${parent}/libpod-${detached}`), [], 'the container\'s cgroup left after rm');
  assert.equal(ok('podman ps', podman('ps', '-aq')), '');
});

test('containerd\'s runc shim with --runc-binary berth-runtime: ctr run --rm, then run -d, task exec, kill and delete', { skip }, async (t) => {
  const defer = undoStack(t);
  const parent = cgroupParent(defer, 'berth-test-containerd');
  // The shims' sockets go to /run/containerd/s, fixed in containerd 1.6.
  removeIfNew(defer, '/run/containerd');
  const dir = engineDir(defer, 'containerd');
  const { ctr } = await startContainerd(defer, dir);
  /** A container to remove before containerd stops, when the test ends before it did. */
  let running: string | undefined;
  defer(() => {
    if (running === undefined) return;
    ctr('task', 'kill', '-s', 'SIGKILL', running);
    ctr('task', 'delete', '--force', running);
    ctr('container', 'rm', running);
  });

  const archive = join(dir, 'busybox.tar');
  await writeDockerSaveFixture(archive, { repoTags: ['berth-test/busybox:containerd'] });
  ok('ctr images import', ctr('images', 'import', archive));
  const image = 'docker.io/berth-test/busybox:containerd';
  const runcRoot = join(dir, 'runtime-state');
  const runFlags = (id: string) => ['--runc-binary', BERTH_RUNTIME, '--runc-root', runcRoot, '--cgroup', `${parent}/${id}`, '--fifo-dir', join(dir, 'fifo')];

  const fg = ok('ctr run --rm', ctr('run', '--rm', ...runFlags('fg'), image, 'fg', 'sh', '-c', 'echo "containerd ran me"; cat /hello.txt'));
  assert.equal(fg, 'containerd ran me\nhello from layer 2\n');

  // The shim gives the runtime --root <runc root>/<namespace>: berth-runtime's state is read there.
  const id = unique('ctr');
  running = id;
  ok('ctr run -d', ctr('run', '-d', ...runFlags(id), image, id, ...STOPPABLE));
  const seen = JSON.parse(ok('berth-runtime state', runtime(join(runcRoot, 'default'), 'state', id)));
  const pid = Number(ok('ctr task ls', ctr('task', 'ls')).match(new RegExp(`^${id}\\s+(\\d+)\\s+RUNNING`, 'm'))?.[1]);
  assert.deepEqual([seen.status, seen.pid], ['running', pid]);
  const exec = ctr('task', 'exec', '--exec-id', 'probe', id, 'sh', '-c', 'cat /proc/1/cmdline; exit 5');
  assert.equal(exec.status, 5, exec.stderr);
  assert.equal(exec.stdout, cmdline(STOPPABLE));
  ok('ctr task kill', ctr('task', 'kill', '-s', 'SIGTERM', id));
  await waitFor('the task to stop', () => /STOPPED/.test(ctr('task', 'ls').stdout), 20_000, 50);
  // ctr reports the status the shim read from the process: the shell's TERM trap's 7.
  const deleted = ctr('task', 'delete', id);
  assert.equal(deleted.status, 0, deleted.stderr);
  assert.match(deleted.stderr, /exit code 7\b/);
  ok('ctr container rm', ctr('container', 'rm', id));
  running = undefined;
  assert.equal(isAlivePid(pid), false);
  assert.deepEqual(readdirSync(join(runcRoot, 'default')), [], 'berth-runtime state left after delete');
  assert.deepEqual(cgroupDirsOf(`${parent}/${id}`), [], 'the container\'s cgroup left after delete');
});
