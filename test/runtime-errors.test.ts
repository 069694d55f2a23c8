// Bad input: each gets one line on stderr that names what is wrong (a path, a field, an id), a
// non-zero exit (127 and 126 as a shell gives them), and leaves nothing behind: no state dir
// entry, no process, no mount on the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bindMount, editConfig, makeBundle, type Bundle, type BundleOptions } from './helpers/bundle.js';
import { cgroupMounts, isAlivePid, leftovers, runtime, runtimeOk, runtimeWith, show, tempRoot, unique, type Result } from './helpers/run.js';
import type { TestContext } from 'node:test';
import type { Spec } from '../src/oci/runtime-spec.js';

/** The error is one line, `berth-runtime: ...`, matching `names`; the exit status as given. */
function assertOneLineError(r: Result, names: RegExp, status?: number): void {
  assert.notEqual(r.status, 0, show(r));
  if (status !== undefined) assert.equal(r.status, status, show(r));
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, `not one line:\n${r.stderr}`);
  assert.match(lines[0], /^berth-runtime: /);
  assert.match(lines[0], names);
}

function assertNothingLeft(root: string, marks: string[], rootfs?: string): void {
  assert.deepEqual(leftovers(root, marks, rootfs), []);
}

async function bundleFor(t: TestContext, opts: BundleOptions): Promise<Bundle> {
  const bundle = await makeBundle(opts);
  t.after(bundle.cleanup);
  return bundle;
}

/** `create` and `run` of the same bundle both fail the same way and leave nothing. */
function bothFail(root: string, bundle: Bundle | string, names: RegExp, status?: number): void {
  const dir = typeof bundle === 'string' ? bundle : bundle.dir;
  for (const command of ['create', 'run']) {
    const id = unique(command);
    const r = runtime(root, command, '--bundle', dir, id);
    assertOneLineError(r, names, status);
    assertNothingLeft(root, [dir, id], typeof bundle === 'string' ? undefined : bundle.rootfs);
  }
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('bad bundles', () => {
  test('a bundle that does not exist: the error names it', async (t) => {
    const root = tempRoot(t);
    const missing = join(mkdtempSync('/tmp/berth-test-nobundle-'), 'not-there');
    t.after(() => rmSync(join(missing, '..'), { recursive: true, force: true }));
    bothFail(root, missing, new RegExp(`bundle ${escape(missing)}: no such directory`));
  });

  test('a bundle without config.json', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'] });
    rmSync(bundle.config);
    bothFail(root, bundle, new RegExp(`${escape(bundle.config)}: missing`));
  });

  test('malformed config.json: the error names the file and the place', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'] });
    writeFileSync(bundle.config, '{"ociVersion": "1.2.0",\n  "process": {');
    bothFail(root, bundle, new RegExp(`^berth-runtime: ${escape(bundle.config)}: malformed JSON`));
  });

  test('invalid config.json: empty process.args, a bad namespace, a relative mount destination', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'] });
    const cases: [(s: Spec) => void, string][] = [
      [(s) => (s.process.args = []), 'process.args'],
      [(s) => ((s.linux ??= {}).namespaces = [{ type: 'pid' }, { type: 'bogus' as 'pid' }]), 'linux.namespaces[1].type'],
      [(s) => (s.mounts ??= []).push({ destination: 'relative/path', type: 'tmpfs', source: 'tmpfs' }), 'mounts['],
      [(s) => delete (s as { process?: unknown }).process, 'process'],
    ];
    const original = readFileSync(bundle.config, 'utf8');
    for (const [edit, field] of cases) {
      writeFileSync(bundle.config, original);
      editConfig(bundle, edit);
      bothFail(root, bundle, new RegExp(`${escape(bundle.config)}: ${escape(field)}`));
    }
  });

  test('a rootfs that is missing: the error names root.path and the directory', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'] });
    renameSync(bundle.rootfs, bundle.rootfs + '.away');
    bothFail(root, bundle, new RegExp(`root\\.path: rootfs ${escape(bundle.rootfs)} is not a directory`));
  });

  test('no mount namespace: a read-only root, masked and read-only paths are refused, not skipped', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, {
      args: ['true'],
      edit: (s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount')),
    });
    // Each edit removes the previous fault, uncovering the next. (The spec's mounts are made in the
    // caller's mount namespace: runtime-bundles.test.ts.)
    const steps: [(s: Spec) => void, string][] = [
      [() => {}, 'root.readonly'],
      [(s) => (s.root.readonly = false), 'linux.maskedPaths'],
      [(s) => delete s.linux!.maskedPaths, 'linux.readonlyPaths'],
    ];
    for (const [edit, field] of steps) {
      editConfig(bundle, edit);
      bothFail(root, bundle, new RegExp(`config\\.json: ${escape(field)}: .*mount namespace`));
    }
  });

  test('a bind mount whose source is missing: the failure inside the child names the mount', async (t) => {
    const root = tempRoot(t);
    const missing = join(mkdtempSync('/tmp/berth-test-nosource-'), 'gone');
    t.after(() => rmSync(join(missing, '..'), { recursive: true, force: true }));
    const bundle = await bundleFor(t, { args: ['true'], edit: (s) => bindMount(s, missing, '/data') });
    bothFail(root, bundle, new RegExp(`bind mount ${escape(missing)} on /data: ENOENT`));
  });
});

describe('a process that cannot start', () => {
  test('a program that does not exist: exit 127, named', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['/bin/no-such-program'] });
    bothFail(root, bundle, /exec \/bin\/no-such-program: ENOENT/, 127);
    editConfig(bundle, (s) => (s.process.args = ['no-such-program-on-path']));
    bothFail(root, bundle, /exec no-such-program-on-path: ENOENT/, 127);
  });

  test('a file that is not executable: exit 126, named', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, {
      args: ['/etc/not-a-program'],
      setup: (rootfs) => {
        writeFileSync(join(rootfs, 'etc/not-a-program'), 'echo hi\n');
        chmodSync(join(rootfs, 'etc/not-a-program'), 0o644);
      },
    });
    bothFail(root, bundle, /exec \/etc\/not-a-program: EACCES/, 126);
  });

  test('a cwd that does not exist', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'], edit: (s) => (s.process.cwd = '/no/such/dir') });
    bothFail(root, bundle, /chdir \/no\/such\/dir: ENOENT/);
  });
});

describe('ids', () => {
  test('a duplicate id: "already exists", and the first container is intact', async (t) => {
    const root = tempRoot(t);
    const first = await bundleFor(t, { args: ['sleep', '1000'] });
    const second = await bundleFor(t, { args: ['sleep', '1000'] });
    const id = unique('dup');
    runtimeWith(root, ['create', '--bundle', first.dir, id]);
    const before = JSON.parse(runtimeOk(root, 'state', id)) as { status: string; pid: number };
    assert.equal(before.status, 'created');

    for (const command of ['create', 'run']) {
      const r = runtime(root, command, '--bundle', second.dir, id);
      assertOneLineError(r, new RegExp(`container ${id} already exists`));
      assert.deepEqual(leftovers(root, [second.dir], second.rootfs).filter((l) => !l.startsWith('state dir entry')), []);
    }
    assert.deepEqual(readdirSync(root), [id]);
    assert.deepEqual(JSON.parse(runtimeOk(root, 'state', id)), { ...before });
    assert.ok(isAlivePid(before.pid));
    runtimeOk(root, 'start', id);
    assert.equal((JSON.parse(runtimeOk(root, 'state', id)) as { status: string }).status, 'running');
  });

  test('an unknown id: start, state, kill, kill --all, delete and exec say it does not exist; delete --force succeeds, as runc’s', (t) => {
    const root = tempRoot(t);
    const id = unique('nobody');
    for (const args of [['start', id], ['state', id], ['kill', id, 'KILL'], ['kill', '--all', id, 'KILL'], ['delete', id], ['exec', id, 'true']]) {
      const r = runtime(root, ...args);
      // "does not exist" is what containerd's shim reads as "no such container".
      assertOneLineError(r, new RegExp(`^berth-runtime: container ${id} does not exist$`));
      assertNothingLeft(root, [id]);
    }
    const force = runtime(root, 'delete', '--force', id);
    assert.deepEqual([force.status, force.stderr], [0, ''], show(force));
    assertNothingLeft(root, [id]);
  });

  test('an id that is not a name: refused before anything is made', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleFor(t, { args: ['true'] });
    for (const id of ['../escape', 'a/b', '.hidden', '']) {
      const r = runtime(root, 'create', '--bundle', bundle.dir, id);
      assertOneLineError(r, id === '' ? /a container ID is required/ : /invalid container id/);
      assertNothingLeft(root, [bundle.dir], bundle.rootfs);
    }
  });
});

test('the leak check itself sees a container: its state entry, its process (by command line and by root), its cgroup in every hierarchy', async (t) => {
  const root = tempRoot(t);
  const bundle = await bundleFor(t, { args: ['sleep', '1000'] });
  const id = unique('seen');
  runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
  const pid = (JSON.parse(runtimeOk(root, 'state', id)) as { pid: number }).pid;
  const found = leftovers(root, [id, 'sleep 1000'], bundle.rootfs);
  assert.ok(found.includes(`state dir entry ${join(root, id)}`), found.join('\n'));
  assert.ok(found.includes(`process ${pid}: sleep 1000 `), found.join('\n'));
  assert.ok(found.includes(`process ${pid} rooted in ${bundle.rootfs}`), found.join('\n'));
  assert.deepEqual(found.filter((l) => l.startsWith('cgroup ')), cgroupMounts().map((m) => `cgroup ${join(m, 'berth', id)}`));
  runtimeOk(root, 'delete', '--force', id);
  assert.deepEqual(leftovers(root, [id], bundle.rootfs), []);
});

test('a create killed before its first save leaves a claimed dir with a temp file only: delete says it does not exist; delete --force removes it', (t) => {
  const root = tempRoot(t);
  const id = unique('unsaved');
  mkdirSync(join(root, id), { recursive: true });
  writeFileSync(join(root, id, '.state.json.1234-abcd'), '{"id":');
  assertOneLineError(runtime(root, 'delete', id), new RegExp(`^berth-runtime: container ${id} does not exist$`));
  assert.ok(existsSync(join(root, id)), 'without --force nothing is removed');
  runtimeOk(root, 'delete', '--force', id);
  assert.equal(existsSync(join(root, id)), false);
});
