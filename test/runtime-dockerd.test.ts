// dockerd driving berth-runtime: Debian's dockerd (docker.io 20.10) with berth-runtime added as a
// runtime (`--add-runtime berth=dist/bin/berth-runtime`), so that `docker run --runtime berth`
// goes dockerd → containerd → the runc shim (containerd-shim-runc-v2) → berth-runtime, the path
// a Docker host takes with any runc-compatible runtime. The docker CLI then does what a user does:
// run --rm with an exit code, run -t on the shim's console socket, run -d, exec, top, stats,
// update, pause/unpause, stop honouring a TERM trap, rm; at the end nothing is left.
// berth-runtime is proved to have run: the shim's options name it as the binary, and while the
// container runs, the record under the runtime Root is berth-runtime's (with the init's start
// time, which runc's state.json lacks). dockerd 20.10 gives every runtime of the v2 shim the same
// Root, EXEC_ROOT/runtime-runc, whatever its name.
//
// Everything is the test's own: a private containerd (dockerd's --containerd), dockerd's data
// root, exec root, socket and pidfile in a temp dir, no bridge and no iptables rules
// (--bridge none, --iptables=false), a cgroup parent; the image is the busybox fixture,
// `docker load`ed. dockerd's fixed places (/etc/docker/key.json, /run/docker) go at the end when
// this test made them, and so does /run/containerd (the shims' sockets, dockerd's fifos).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON, writeDockerSaveFixture } from './helpers/image-fixture.js';
import { PROJECT } from './helpers/berth-cli.js';
import { cgroupParent, engineDir, ok, removeIfNew, run, startContainerd, startDaemon, undoStack, type Undo } from './helpers/engines.js';
import { cgroupDirsOf, hostMountsUnder, processesMentioning, waitFor } from './helpers/run.js';

const DOCKERD = '/usr/sbin/dockerd';
const DOCKER = '/usr/bin/docker';
const skip =
  process.getuid?.() !== 0 ? 'needs root'
  : !busyboxAvailable() ? BUSYBOX_MISSING_REASON
  : !existsSync(DOCKERD) || !existsSync(DOCKER) ? `${DOCKERD} or ${DOCKER} not found (apt-get install docker.io)`
  : false;

const BERTH_RUNTIME = join(PROJECT, 'dist/bin/berth-runtime');
const IMAGE = 'berth-test/busybox:dockerd';
/** Ends with 7 on SIGTERM: a stop that kills instead (137) shows. */
const STOPPABLE = ['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done'];

interface Dockerd {
  dir: string;
  /** berth-runtime's --root as dockerd passes it through the shim: EXEC_ROOT/runtime-runc. */
  berthRoot: string;
  parent: string;
  docker(...args: string[]): ReturnType<typeof run>;
  defer(undo: Undo): void;
}

/** Removes `file` at the end when it does not exist now (dockerd writes it at a fixed place). */
function removeFileIfNew(defer: (undo: Undo) => void, file: string): void {
  if (existsSync(file)) return;
  defer(() => rmSync(file, { force: true }));
}

async function startDockerd(t: TestContext): Promise<Dockerd> {
  const defer = undoStack(t);
  const parent = cgroupParent(defer, 'berth-test-dockerd');
  // dockerd 20.10's trust key and plugin dir, at places fixed in its code.
  removeIfNew(defer, '/etc/docker');
  removeFileIfNew(defer, '/etc/docker/key.json');
  removeIfNew(defer, '/run/docker');
  // containerd 1.6's shim sockets (s/) and dockerd's fifos (fifo/), at places fixed in their code.
  removeIfNew(defer, '/run/containerd');
  const dir = engineDir(defer, 'dockerd');
  const { socket: containerd } = await startContainerd(defer, dir);
  const socket = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  const docker = (...args: string[]) => run(DOCKER, ['--host', `unix://${socket}`, ...args]);
  // Registered after containerd's: dockerd stops first.
  await startDaemon(
    defer,
    DOCKERD,
    [
      '--data-root', join(dir, 'data'), '--exec-root', execRoot, '--pidfile', join(dir, 'docker.pid'), '--host', `unix://${socket}`,
      '--containerd', containerd, '--bridge', 'none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
      '--storage-driver', 'overlay2', '--exec-opt', 'native.cgroupdriver=cgroupfs', '--cgroup-parent', parent,
      '--add-runtime', `berth=${BERTH_RUNTIME}`, '--log-level', 'warn',
    ],
    () => docker('version').status === 0,
    60_000,
  );
  const archive = join(dir, 'busybox.tar');
  await writeDockerSaveFixture(archive, { repoTags: [IMAGE] });
  ok('docker load', docker('load', '--input', archive));
  return { dir, berthRoot: join(execRoot, 'runtime-runc'), parent, docker, defer };
}

/** The container ids in berth-runtime's state under dockerd's Root for it (namespace moby). */
function berthState(env: Dockerd): string[] {
  const dir = join(env.berthRoot, 'moby');
  return existsSync(dir) ? readdirSync(dir).filter((e) => !e.startsWith('.')) : [];
}

test('dockerd --add-runtime berth: docker run --runtime berth, -t, -d, exec, top, stats, update, pause, stop and rm go through berth-runtime', { skip }, async (t) => {
  const env = await startDockerd(t);
  const { docker } = env;
  const ids: string[] = [];
  env.defer(() => {
    for (const id of ids) docker('rm', '--force', id);
  });

  // Foreground, removed at the end: output and the exit code come back through the shim.
  const once = docker('run', '--rm', '--runtime', 'berth', '--network', 'none', IMAGE, 'sh', '-c', 'echo "hello from $(cat /proc/1/comm)"; exit 3');
  assert.equal(once.status, 3, once.stderr);
  assert.equal(once.stdout, 'hello from sh\n');

  // A terminal: the shim hands berth-runtime a console socket, the pty master goes back to it.
  const tty = docker('run', '--rm', '--runtime', 'berth', '--network', 'none', '--tty', IMAGE, 'sh', '-c', 'tty; test -t 1 && echo is-a-tty');
  assert.equal(tty.status, 0, tty.stderr);
  assert.equal(tty.stdout.replaceAll('\r', ''), '/dev/pts/0\nis-a-tty\n');

  const id = ok('docker run -d', docker('run', '--detach', '--runtime', 'berth', '--network', 'none', '--memory', '128m', IMAGE, ...STOPPABLE)).trim();
  ids.push(id);
  assert.deepEqual(berthState(env), [id], `berth-runtime has no state for dockerd's container under ${env.berthRoot}`);
  const record = JSON.parse(readFileSync(join(env.berthRoot, 'moby', id, 'state.json'), 'utf8')) as Record<string, unknown>;
  assert.ok('pidStartTime' in record, `not berth-runtime's record: ${Object.keys(record)}`);
  const shimOptions = JSON.parse(readFileSync(join(env.dir, 'state', 'io.containerd.runtime.v2.task', 'moby', id, 'options.json'), 'utf8')) as { binary_name?: string };
  assert.equal(shimOptions.binary_name, BERTH_RUNTIME);
  assert.equal(ok('docker inspect', docker('inspect', '--format', '{{.HostConfig.Runtime}} {{.State.Status}}', id)).trim(), 'berth running');

  const exec = docker('exec', id, 'sh', '-c', 'echo out; echo err >&2; exit 5');
  assert.deepEqual([exec.status, exec.stdout, exec.stderr], [5, 'out\n', 'err\n']);
  const missing = docker('exec', id, '/no/such/program');
  assert.notEqual(missing.status, 0);
  assert.match(missing.stdout + missing.stderr, /\/no\/such\/program/);

  assert.match(ok('docker top', docker('top', id)), /trap "exit 7" TERM/);
  const stats = JSON.parse(ok('docker stats', docker('stats', '--no-stream', '--format', '{{json .}}', id))) as { MemUsage: string; PIDs: string };
  assert.match(stats.MemUsage, /\/ 128MiB$/, JSON.stringify(stats));
  assert.ok(Number(stats.PIDs) >= 1, JSON.stringify(stats));

  // update reaches the container's cgroup through `berth-runtime update`.
  ok('docker update', docker('update', '--memory', '96m', '--memory-swap', '192m', id));
  const limits = cgroupDirsOf(`${env.parent}/${id}`).flatMap((d) => ['memory.limit_in_bytes', 'memory.max'].map((f) => join(d, f))).filter(existsSync);
  assert.ok(limits.length > 0, `no memory limit file of ${env.parent}/${id}`);
  for (const f of limits) assert.equal(readFileSync(f, 'utf8').trim(), String(96 * 1024 * 1024), f);

  ok('docker pause', docker('pause', id));
  assert.equal(ok('docker inspect', docker('inspect', '--format', '{{.State.Status}}', id)).trim(), 'paused');
  ok('docker unpause', docker('unpause', id));
  assert.equal(docker('exec', id, 'true').status, 0, 'the container does not run after unpause');

  ok('docker stop', docker('stop', '--time', '30', id));
  assert.equal(ok('docker inspect', docker('inspect', '--format', '{{.State.ExitCode}}', id)).trim(), '7');
  ok('docker rm', docker('rm', id));
  ids.length = 0;

  // Nothing of the containers is left: no process, mount, cgroup or runtime state.
  await waitFor('the shim to go', () => processesMentioning([id]).length === 0, 10_000, 20).catch(() => {});
  assert.deepEqual(processesMentioning([id]), []);
  assert.deepEqual(berthState(env), []);
  // dockerd's own mount of its data root stays until it stops (engineDir checks that); the container's rootfs and shm go with it.
  assert.deepEqual(hostMountsUnder(env.dir).filter((m) => m.includes(id) || m.includes('/merged')), []);
  const cgroups = cgroupDirsOf(env.parent).flatMap((d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)));
  assert.deepEqual(cgroups, []);
  assert.equal(ok('docker ps', docker('ps', '--all', '--quiet')), '');
});
