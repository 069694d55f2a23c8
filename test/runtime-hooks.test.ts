// The six OCI hook kinds, in their order and their namespaces, with the state on their stdin; and
// the console socket: a terminal's pty master sent to the caller with SCM_RIGHTS, as runc does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TestContext } from 'node:test';
import { native } from '../src/kernel/native.js';
import { readUntilHangup } from './helpers/pty.js';
import type { Hook, Spec } from '../src/oci/runtime-spec.js';
import { bindMount, makeBundle } from './helpers/bundle.js';
import { isAlivePid, lastLine, leftovers, runtime, runtimeOk, show, tempRoot, unique, waitFor } from './helpers/run.js';

function ioDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-test-hooks-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A hook that appends its name to the log, keeps the state it was given, and records where it ran. */
function recordingHook(kind: string, dir: string): Hook {
  const script = `echo ${kind} >> ${dir}/log; cat > ${dir}/${kind}.json; readlink /proc/self/ns/pid > ${dir}/${kind}.pidns; hostname > ${dir}/${kind}.hostname`;
  return { path: '/bin/sh', args: ['sh', '-c', script] };
}

test('hooks: all six kinds run in order, each with the state on stdin, createContainer and startContainer inside the container', async (t) => {
  const root = tempRoot(t);
  const io = ioDir(t);
  const id = unique('hooks');
  const bundle = await makeBundle({
    args: ['sh', '-c', `echo process >> /io/log; while [ ! -e /io/stop ]; do sleep 0.02; done`],
    edit: (s: Spec) => {
      bindMount(s, io, '/io');
      s.hostname = 'hooked';
      s.hooks = {
        prestart: [recordingHook('prestart', io)],
        createRuntime: [recordingHook('createRuntime', io)],
        // Its path resolves in the runtime's mount namespace (the root is not pivoted yet): the host's /bin/sh.
        createContainer: [recordingHook('createContainer', io)],
        // Its path resolves in the container: busybox's sh, writing through the container's /io.
        startContainer: [recordingHook('startContainer', '/io')],
        poststart: [recordingHook('poststart', io)],
        poststop: [recordingHook('poststop', io)],
      };
    },
  });
  t.after(bundle.cleanup);

  const created = runtime(root, 'create', '--bundle', bundle.dir, id);
  assert.equal(created.status, 0, show(created));
  const initPid = JSON.parse(runtimeOk(root, 'state', id)).pid as number;
  const containerPidns = readlinkSync(`/proc/${initPid}/ns/pid`);
  assert.deepEqual(readFileSync(join(io, 'log'), 'utf8').split('\n').filter(Boolean), ['prestart', 'createRuntime', 'createContainer']);

  runtimeOk(root, 'start', id);
  await waitFor('the process to start', () => readFileSync(join(io, 'log'), 'utf8').includes('process'));
  runtimeOk(root, 'kill', id, 'KILL');
  await waitFor('the container to stop', () => JSON.parse(runtimeOk(root, 'state', id)).status === 'stopped');
  runtimeOk(root, 'delete', id);

  const log = readFileSync(join(io, 'log'), 'utf8').split('\n').filter(Boolean);
  assert.deepEqual(log, ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'process', 'poststart', 'poststop']);
  const hostPidns = readlinkSync('/proc/self/ns/pid');
  for (const kind of ['prestart', 'createRuntime', 'poststart', 'poststop']) {
    assert.equal(readFileSync(join(io, `${kind}.pidns`), 'utf8').trim(), hostPidns, `${kind} runs in the runtime's namespaces`);
  }
  for (const kind of ['createContainer', 'startContainer']) {
    assert.equal(readFileSync(join(io, `${kind}.pidns`), 'utf8').trim(), containerPidns, `${kind} runs in the container's PID namespace`);
  }
  assert.equal(readFileSync(join(io, 'startContainer.hostname'), 'utf8').trim(), 'hooked');
  for (const [kind, status] of [['prestart', 'created'], ['createRuntime', 'created'], ['createContainer', 'created'], ['startContainer', 'created'], ['poststart', 'running'], ['poststop', 'stopped']]) {
    const state = JSON.parse(readFileSync(join(io, `${kind}.json`), 'utf8'));
    assert.equal(state.id, id);
    assert.equal(state.status, status, `${kind}'s state`);
    assert.equal(state.bundle, bundle.dir);
    if (status !== 'stopped') assert.equal(state.pid, initPid, `${kind}'s state names the container's pid`);
  }
});

test('hooks: a createRuntime hook that fails fails the create, named in one line, and nothing is left', async (t) => {
  const root = tempRoot(t);
  const id = unique('hookfail');
  const bundle = await makeBundle({
    args: ['true'],
    edit: (s: Spec) => {
      s.hooks = { createRuntime: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 3'] }] };
    },
  });
  t.after(bundle.cleanup);
  const r = runtime(root, 'create', '--bundle', bundle.dir, id);
  assert.notEqual(r.status, 0);
  assert.equal(r.stderr.trim().split('\n').length, 1, show(r));
  assert.match(lastLine(r.stderr), /^berth-runtime: createRuntime hook \/bin\/sh: exit status 3$/);
  assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
});

test('hooks: a failing poststart or poststop hook is a warning; the next hooks run and the container runs and goes as asked', async (t) => {
  const root = tempRoot(t);
  const io = ioDir(t);
  const id = unique('hookwarn');
  const bundle = await makeBundle({
    args: ['sh', '-c', 'exit 6'],
    edit: (s: Spec) => {
      s.hooks = {
        poststart: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 4'] }, recordingHook('poststart', io)],
        poststop: [{ path: '/bin/sh', args: ['sh', '-c', 'exit 5'] }, recordingHook('poststop', io)],
      };
    },
  });
  t.after(bundle.cleanup);
  const r = runtime(root, 'run', '--bundle', bundle.dir, id);
  assert.equal(r.status, 6, show(r));
  const warnings = r.stderr.trim().split('\n');
  assert.deepEqual(warnings, ['berth-runtime: warning: poststart hook /bin/sh: exit status 4', 'berth-runtime: warning: poststop hook /bin/sh: exit status 5'], show(r));
  assert.deepEqual(readFileSync(join(io, 'log'), 'utf8').trim().split('\n'), ['poststart', 'poststop']);
  assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
});

test('hooks: a hook past its timeout is killed and fails the create', async (t) => {
  const root = tempRoot(t);
  const id = unique('hooktime');
  // A hook that never ends by itself: only a kill ends it, so a create that returns killed it.
  const pidFile = mkdtempSync('/tmp/berth-test-hook-') + '/pid';
  t.after(() => {
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (pid > 0 && isAlivePid(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dirname(pidFile), { recursive: true, force: true });
  });
  const bundle = await makeBundle({
    args: ['true'],
    edit: (s: Spec) => {
      s.hooks = { prestart: [{ path: '/bin/sh', args: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep infinity`], timeout: 1 }] };
    },
  });
  t.after(bundle.cleanup);
  const r = runtime(root, 'create', '--bundle', bundle.dir, id);
  assert.equal(r.signal, null, `create did not return: ${show(r)}`);
  assert.notEqual(r.status, 0);
  assert.match(lastLine(r.stderr), /prestart hook \/bin\/sh: timed out after 1s/);
  const hook = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(hook > 0);
  assert.equal(isAlivePid(hook), false, 'the hook runs on');
  assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
});

test('console socket: a terminal container sends its pty master over the socket (SCM_RIGHTS); the process sees a tty', async (t) => {
  const root = tempRoot(t);
  const sockDir = ioDir(t);
  const socketPath = join(sockDir, 'console.sock');
  const listener = native.unixListen(socketPath);
  t.after(() => closeSync(listener));
  const id = unique('tty');
  const bundle = await makeBundle({
    args: ['sh', '-c', 'tty; stty size; echo from-the-pty'],
    edit: (s: Spec) => {
      s.process.terminal = true;
      s.process.consoleSize = { height: 24, width: 100 };
    },
  });
  t.after(bundle.cleanup);

  const created = runtime(root, 'create', '--bundle', bundle.dir, '--console-socket', socketPath, id);
  assert.equal(created.status, 0, show(created));
  // The runtime connected while creating; its message waits in the socket for us.
  const connection = native.accept(listener);
  const master = native.recvFd(connection);
  closeSync(connection);
  runtimeOk(root, 'start', id);

  const output = readUntilHangup(master).toString('utf8').replace(/\r/g, '');
  closeSync(master);
  assert.match(output, /^\/dev\/pts\/0$/m);
  assert.match(output, /^24 100$/m);
  assert.match(output, /^from-the-pty$/m);
});

test('console socket: a terminal without --console-socket is refused by create, naming process.terminal', async (t) => {
  const root = tempRoot(t);
  const id = unique('nosock');
  const bundle = await makeBundle({ args: ['true'], edit: (s: Spec) => void (s.process.terminal = true) });
  t.after(bundle.cleanup);
  const r = runtime(root, 'create', '--bundle', bundle.dir, id);
  assert.notEqual(r.status, 0);
  assert.match(lastLine(r.stderr), /process\.terminal: a terminal needs --console-socket/);
  assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
});
