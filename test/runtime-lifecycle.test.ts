// A container's life as an engine drives it through the CLI: create, state, start, kill, exec,
// list, delete; run's exit status; the pid file; spec. Real containers, each with its own --root.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { bindMount, makeBundle } from './helpers/bundle.js';
import { validateAgainstRuntimeSchema } from './helpers/oci-schema.js';
import { cgroupDirsOf, isAlivePid, lastLine, processesRootedAt, runtime, runtimeInBackground, runtimeOk, runtimeWith, scratchDir, show, tempRoot, unique, waitFor } from './helpers/run.js';

interface State {
  ociVersion: string;
  id: string;
  status: string;
  pid?: number;
  bundle: string;
}

function state(root: string, id: string): State {
  return JSON.parse(runtimeOk(root, 'state', id)) as State;
}

/** A host directory bound at /io in the container: signals in both directions. */
function ioDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-test-io-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `create` with its stdout, and so the created container's (engines hand create the container's stdio), going to a file. */
function create(root: string, args: string[]): { status: number | null; stderr: string; output: () => string } {
  const file = join(scratchDir(), `${unique('create')}.out`);
  const fd = openSync(file, 'w+');
  try {
    const r = runtimeWith(root, ['create', ...args], { stdout: fd });
    return { status: r.status, stderr: r.stderr, output: () => readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

describe('lifecycle', () => {
  test('create → created → start → running → exit → stopped → delete → gone, the state valid at each step', async (t) => {
    const root = tempRoot(t);
    const io = ioDir(t);
    const bundle = await makeBundle({
      args: ['sh', '-c', 'echo started > /io/started; echo hello from the container; while [ ! -e /io/stop ]; do sleep 0.02; done'],
      edit: (s) => bindMount(s, io, '/io'),
    });
    t.after(bundle.cleanup);
    const id = unique('life');
    const checkSchema = (s: State) => assert.deepEqual(validateAgainstRuntimeSchema('state', s), [], JSON.stringify(s));

    const c = create(root, ['--bundle', bundle.dir, id]);
    assert.equal(c.status, 0, c.stderr);
    const created = state(root, id);
    checkSchema(created);
    assert.equal(created.status, 'created');
    assert.equal(created.id, id);
    assert.equal(created.bundle, bundle.dir);
    assert.ok(created.pid && isAlivePid(created.pid), `pid ${created.pid} of a created container is not alive`);
    assert.ok(!existsSync(join(io, 'started')), 'the process ran before start');

    runtimeOk(root, 'start', id);
    await waitFor('the process to run', () => existsSync(join(io, 'started')));
    await waitFor('its output on the stdout create was given', () => c.output() === 'hello from the container\n');
    const running = state(root, id);
    checkSchema(running);
    assert.equal(running.status, 'running');
    assert.equal(running.pid, created.pid);

    writeFileSync(join(io, 'stop'), '');
    await waitFor('the process to exit', () => !isAlivePid(created.pid as number));
    const stopped = state(root, id);
    assert.equal(stopped.status, 'stopped');
    checkSchema(stopped);
    assert.equal(stopped.pid, undefined);
    assert.ok(!isAlivePid(created.pid as number));

    runtimeOk(root, 'delete', id);
    const gone = runtime(root, 'state', id);
    assert.notEqual(gone.status, 0);
    assert.equal(lastLine(gone.stderr), `berth-runtime: container ${id} does not exist`);
    assert.deepEqual(readdirSync(root), []);
  });

  test('start of a container that is not created is refused', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('twice');
    assert.equal(create(root, ['--bundle', bundle.dir, id]).status, 0);
    runtimeOk(root, 'start', id);
    const again = runtime(root, 'start', id);
    assert.notEqual(again.status, 0);
    assert.match(lastLine(again.stderr), new RegExp(`^berth-runtime: cannot start container ${id}: it is running`));
  });

  test('kill delivers the signal: the container’s TERM trap runs', async (t) => {
    const root = tempRoot(t);
    const io = ioDir(t);
    const bundle = await makeBundle({
      args: ['sh', '-c', 'trap "echo got TERM > /io/trap; exit 3" TERM; touch /io/ready; while :; do sleep 0.05; done'],
      edit: (s) => bindMount(s, io, '/io'),
    });
    t.after(bundle.cleanup);
    const id = unique('kill');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    await waitFor('the trap to be set', () => existsSync(join(io, 'ready')));
    const pid = state(root, id).pid as number;
    runtimeOk(root, 'kill', id, 'TERM');
    await waitFor('the process to exit', () => !isAlivePid(pid));
    assert.equal(state(root, id).status, 'stopped');
    assert.equal(readFileSync(join(io, 'trap'), 'utf8'), 'got TERM\n');
  });

  test('kill with a number and with SIG names; killing a stopped container is refused', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('kill9');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    const pid = state(root, id).pid as number;
    // PID 1 ignores signals it has no handler for, except KILL: USR1 leaves it running.
    runtimeOk(root, 'kill', id, 'SIGUSR1');
    assert.equal(state(root, id).status, 'running');
    runtimeOk(root, 'kill', id, '9');
    await waitFor('the process to exit', () => !isAlivePid(pid));
    assert.equal(state(root, id).status, 'stopped');
    const again = runtime(root, 'kill', id, 'KILL');
    assert.notEqual(again.status, 0);
    assert.equal(lastLine(again.stderr), `berth-runtime: cannot kill container ${id}: container not running`);
  });

  test('delete --force of a running container kills it and removes its state; plain delete refuses', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sh', '-c', 'sleep 1000 & sleep 1000'] });
    t.after(bundle.cleanup);
    const id = unique('force');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    const pid = state(root, id).pid as number;
    const plain = runtime(root, 'delete', id);
    assert.notEqual(plain.status, 0);
    assert.match(lastLine(plain.stderr), new RegExp(`^berth-runtime: cannot delete container ${id}: it is running`));
    assert.equal(state(root, id).status, 'running');

    runtimeOk(root, 'delete', '--force', id);
    assert.ok(!isAlivePid(pid), `the container's init ${pid} is still alive`);
    assert.deepEqual(readdirSync(root), []);
    // runc's --force: a container already gone is nothing to do (podman and containerd's shim call it so).
    const gone = runtime(root, 'delete', '--force', id);
    assert.deepEqual([gone.status, gone.stderr], [0, ''], show(gone));
  });

  test('exec sees the container’s PID namespace, root and hostname; list shows it', async (t) => {
    const root = tempRoot(t);
    const name = unique('exec-host');
    const bundle = await makeBundle({
      args: ['sh', '-c', 'echo made-inside > /dev/shm/made; exec sleep 1000'],
      edit: (s) => (s.hostname = name),
    });
    t.after(bundle.cleanup);
    const id = unique('exec');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    await waitFor('the container to write its file', () => runtime(root, 'exec', id, 'cat', '/dev/shm/made').stdout === 'made-inside\n');

    const ps = runtimeOk(root, 'exec', id, 'ps', '-o', 'pid,comm');
    const rows = ps.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(rows[0], ['1', 'sleep'], ps);
    assert.equal(rows.length, 2, ps);
    assert.equal(rows[1][1], 'ps', ps);
    assert.equal(runtimeOk(root, 'exec', id, 'hostname'), `${name}\n`);
    assert.equal(runtimeOk(root, 'exec', '--env', 'GREETING=hi there', id, 'sh', '-c', 'echo "$GREETING"'), 'hi there\n');
    const status = runtime(root, 'exec', id, 'sh', '-c', 'exit 5');
    assert.equal(status.status, 5, show(status));

    const list = runtimeOk(root, 'list');
    assert.match(list, new RegExp(`^${id.replace(/[.+]/g, '\\$&')}\\s+${state(root, id).pid}\\s+running\\s+${bundle.dir}`, 'm'));
    const json = JSON.parse(runtimeOk(root, 'list', '--format', 'json')) as { id: string; status: string }[];
    assert.deepEqual(json.map((c) => [c.id, c.status]), [[id, 'running']]);
    assert.equal(runtimeOk(root, 'list', '--quiet'), `${id}\n`);
  });

  test('kill --all reaches every process of the container; delete --force ends exec’d ones too', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sh', '-c', 'trap "" TERM; sleep 1000 & wait; sleep 1000'] });
    t.after(bundle.cleanup);
    const id = unique('all');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    await waitFor('the init and its child', () => processesRootedAt(bundle.rootfs).length === 2);
    const init = state(root, id).pid as number;
    // TERM to all: the child dies, PID 1 ignores it and goes on to its second sleep.
    runtimeOk(root, 'kill', '--all', id, 'TERM');
    await waitFor('the child to die and the init to start its second sleep', () => {
      const pids = processesRootedAt(bundle.rootfs);
      return pids.length === 2 && readFileSync(`/proc/${pids.find((p) => p !== init)}/cmdline`, 'utf8') === 'sleep\u00001000\u0000';
    });

    const pidFile = join(bundle.dir, 'exec.pid');
    runtimeOk(root, 'exec', '--detach', '--pid-file', pidFile, id, 'sleep', '999');
    const execPid = Number(readFileSync(pidFile, 'utf8'));
    assert.ok(processesRootedAt(bundle.rootfs).includes(execPid), `exec'd ${execPid} is not in the container`);
    runtimeOk(root, 'delete', '--force', id);
    await waitFor('every process of the container to be gone', () => processesRootedAt(bundle.rootfs).length === 0);
  });

  test('--pid-file holds the container’s pid', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('pidfile');
    const pidFile = join(bundle.dir, 'container.pid');
    assert.equal(create(root, ['--bundle', bundle.dir, '--pid-file', pidFile, id]).status, 0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    assert.equal(pid, state(root, id).pid);
    assert.ok(isAlivePid(pid));
    runtimeOk(root, 'start', id);
    await waitFor('the process to exec', () => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'sleep\u00001000\u0000');
  });
});

/** The device rules containerd's CRI gives a container: all denied, then the usual few allowed. */
const CRI_DEVICE_RULES = [
  { allow: false, access: 'rwm' },
  ...[[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2]].map(([major, minor]) => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

/** A process.json for `exec --process`, as containerd's shim writes one. */
function processFile(bundle: string, args: string[]): string {
  const file = join(bundle, `${unique('process')}.json`);
  writeFileSync(file, JSON.stringify({ args, cwd: '/', env: ['PATH=/bin:/usr/bin'], user: { uid: 0, gid: 0 } }));
  return file;
}

// containerd's runc shim and the CRI plugin act on what these verbs answer, and on their words:
// "container not running" and "does not exist" mean "already gone" to them. runc 1.1 was run
// beside berth-runtime on the same bundles to find the answers these tests hold.
describe('the verbs as containerd’s runc shim calls them, answered as runc answers', () => {
  test('a stopped container: kill --all reaches what its init left in the cgroup and exits 0; a plain kill says “container not running”; events, update, pause, exec refused; half deleted, it still answers; delete', async (t) => {
    const root = tempRoot(t);
    // No PID namespace of its own (as a container in its pod's): the init's child outlives it.
    const bundle = await makeBundle({
      args: ['sh', '-c', 'sleep 1000 & exit 3'],
      edit: (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'pid')),
    });
    t.after(bundle.cleanup);
    const id = unique('leftover');
    assert.equal(create(root, ['--bundle', bundle.dir, id]).status, 0);
    const init = state(root, id).pid as number;
    runtimeOk(root, 'start', id);
    await waitFor('the init to exit, leaving its child', () => !isAlivePid(init) && processesRootedAt(bundle.rootfs).length === 1);
    const [child] = processesRootedAt(bundle.rootfs);
    assert.equal(state(root, id).status, 'stopped');
    assert.deepEqual(JSON.parse(runtimeOk(root, 'ps', '--format', 'json', id)), [child]);
    for (const signal of ['KILL', '9', '0']) {
      const r = runtime(root, 'kill', id, signal);
      assert.notEqual(r.status, 0, show(r));
      assert.equal(lastLine(r.stderr), `berth-runtime: cannot kill container ${id}: container not running`);
    }
    assert.ok(isAlivePid(child), 'a plain kill reached the child');
    // The shim's call once the init has exited.
    runtimeOk(root, 'kill', '--all', id, '9');
    await waitFor('the child to die', () => !isAlivePid(child));
    runtimeOk(root, 'kill', '--all', id, 'KILL'); // nothing left in the cgroup: still 0
    for (const args of [['events', '--stats', id], ['update', '--pids-limit', '10', id], ['pause', id], ['exec', '--process', processFile(bundle.dir, ['true']), id]]) {
      const r = runtime(root, ...args);
      assert.notEqual(r.status, 0, `${args[0]} of a stopped container: ${show(r)}`);
    }
    // Half deleted (its cgroup gone, its state left, as after a delete cut short): the verbs still answer.
    for (const dir of cgroupDirsOf(`/berth/${id}`)) rmdirSync(dir);
    runtimeOk(root, 'kill', '--all', id, 'KILL');
    assert.deepEqual(JSON.parse(runtimeOk(root, 'ps', '--format', 'json', id)), []);
    assert.equal(state(root, id).status, 'stopped');
    runtimeOk(root, 'delete', id);
    assert.deepEqual(readdirSync(root).filter((e) => !e.startsWith('.')), []);
  });

  test('created: delete kills it; running: update -r - with the CRI’s resources, exec --process, ps; paused: SIGKILL thaws it so that it dies', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sh', '-c', 'sleep 1000 & sleep 1000'] });
    t.after(bundle.cleanup);
    // runc deletes a created container without --force: its process never ran the user's program.
    const created = unique('created');
    assert.equal(create(root, ['--bundle', bundle.dir, created]).status, 0);
    const waiting = state(root, created).pid as number;
    runtimeOk(root, 'delete', created);
    assert.equal(isAlivePid(waiting), false);
    assert.equal(runtime(root, 'state', created).status, 1);

    const id = unique('verbs');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    await waitFor('the init and its child', () => processesRootedAt(bundle.rootfs).length === 2);
    // What the shim writes to `update --resources -` for UpdateContainerResources: the spec's whole
    // linux.resources, its device rules included.
    const resources = { devices: CRI_DEVICE_RULES, memory: { limit: 200 * 1024 * 1024 }, cpu: { shares: 256, quota: 20_000, period: 100_000 }, pids: { limit: 100 } };
    const update = runtimeWith(root, ['update', '--resources', '-', id], { input: JSON.stringify(resources) });
    assert.equal(update.status, 0, show(update));
    const stats = () => (JSON.parse(runtimeOk(root, 'events', '--stats', id)) as { data: { memory: { usage: { limit: number } }; pids: { limit: number } } }).data;
    assert.deepEqual([stats().memory.usage.limit, stats().pids.limit], [200 * 1024 * 1024, 100]);
    const short = runtimeWith(root, ['update', '-r', '-', id], { input: '{"pids":{"limit":50}}' });
    assert.equal(short.status, 0, show(short));
    assert.equal(stats().pids.limit, 50);

    // The device rules took: /dev/null is still allowed.
    const exec = runtime(root, 'exec', '--process', processFile(bundle.dir, ['sh', '-c', 'echo x > /dev/null && exit 4']), id);
    assert.equal(exec.status, 4, show(exec));
    const pidFile = join(bundle.dir, 'exec.pid');
    runtimeOk(root, 'exec', '--process', processFile(bundle.dir, ['sleep', '999']), '--detach', '--pid-file', pidFile, id);
    const execPid = Number(readFileSync(pidFile, 'utf8'));
    const pids = JSON.parse(runtimeOk(root, 'ps', '--format', 'json', id)) as number[];
    assert.deepEqual([pids.length, pids.includes(execPid)], [3, true], `ps: ${pids}`);

    runtimeOk(root, 'pause', id);
    assert.equal(state(root, id).status, 'paused');
    runtimeOk(root, 'kill', id, 'KILL');
    await waitFor('the paused container to die of SIGKILL', () => state(root, id).status === 'stopped');
    runtimeOk(root, 'delete', id);
    await waitFor('every process of the container to be gone', () => processesRootedAt(bundle.rootfs).length === 0);
  });
});

describe('run', () => {
  test('returns the container’s exit status and deletes it', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sh', '-c', 'echo out; echo err >&2; exit 7'] });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('exit7'));
    assert.equal(r.status, 7, show(r));
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    assert.deepEqual(readdirSync(root), []);
  });

  test('returns 128 + the signal when the container is killed', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('killed');
    const run = runtimeInBackground(root, ['run', '--bundle', bundle.dir, id]);
    t.after(() => run.kill('SIGKILL'));
    // Running, not only created: a KILL between create and start would be another test.
    await waitFor('the container to run', () => existsSync(join(root, id, 'state.json')) && runtime(root, 'state', id).stdout.includes('"status": "running"'));
    runtimeOk(root, 'kill', id, 'KILL');
    assert.deepEqual(await run.exited, { code: 128 + 9, signal: null });
    assert.deepEqual(readdirSync(root), []);
  });

  test('forwards a signal it receives to the container', async (t) => {
    const root = tempRoot(t);
    const io = ioDir(t);
    const bundle = await makeBundle({
      args: ['sh', '-c', 'trap "exit 3" TERM; touch /io/ready; while :; do sleep 0.05; done'],
      edit: (s) => bindMount(s, io, '/io'),
    });
    t.after(bundle.cleanup);
    const run = runtimeInBackground(root, ['run', '--bundle', bundle.dir, unique('forward')]);
    t.after(() => run.kill('SIGKILL'));
    await waitFor('the trap to be set', () => existsSync(join(io, 'ready')));
    run.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 3, signal: null }, run.output());
  });

  test('a signal that arrives while the container is being made is held for it, not fatal to run', async (t) => {
    const root = tempRoot(t);
    // PID 1 without a handler ignores TERM: the container ends on its own, and run with it.
    const bundle = await makeBundle({ args: ['sh', '-c', 'sleep 0.3'] });
    t.after(bundle.cleanup);
    const id = unique('early');
    const run = runtimeInBackground(root, ['run', '--bundle', bundle.dir, id]);
    t.after(() => run.kill('SIGKILL'));
    // The id is claimed (its state dir made) before the clone: signal as soon as it appears.
    await waitFor('the id to be claimed', () => existsSync(join(root, id)), 10_000, 1);
    run.kill('SIGTERM');
    assert.deepEqual(await run.exited, { code: 0, signal: null }, run.output());
    assert.deepEqual(readdirSync(root), []);
  });
});

describe('spec', () => {
  test('writes a starter config.json, and refuses to overwrite one', async (t) => {
    const dir = mkdtempSync('/tmp/berth-test-spec-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    runtimeOk(dir, 'spec', '--bundle', dir);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(config.process.args, ['sh']);
    const again = runtime(dir, 'spec', '--bundle', dir);
    assert.notEqual(again.status, 0);
    assert.equal(lastLine(again.stderr), `berth-runtime: ${join(dir, 'config.json')}: already exists`);
  });

  test('the config.json of spec, and of spec --rootless, are valid against the schema', async (t) => {
    for (const flags of [[], ['--rootless']]) {
      const dir = mkdtempSync('/tmp/berth-test-spec-');
      t.after(() => rmSync(dir, { recursive: true, force: true }));
      runtimeOk(dir, 'spec', '--bundle', dir, ...flags);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.deepEqual(validateAgainstRuntimeSchema('config', config), [], `spec ${flags.join(' ')}`);
    }
  });
});
