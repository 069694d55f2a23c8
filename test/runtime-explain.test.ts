// --dry-run and --explain on real bundles: the plan printed as the shell commands a person would
// type, in the order they run; --dry-run creates nothing, --explain runs the container as well.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { makeBundle } from './helpers/bundle.js';
import { leftovers, runtime, runtimeOk, show, tempRoot, unique } from './helpers/run.js';
import { buildPlan } from '../src/runtime/build-plan.js';
import { loadBundle } from '../src/runtime/container.js';

/** The index of the first line matching `pattern`; fails when there is none. */
function lineOf(lines: string[], pattern: RegExp): number {
  const at = lines.findIndex((l) => pattern.test(l));
  assert.notEqual(at, -1, `no line matches ${pattern}:\n${lines.join('\n')}`);
  return at;
}

/** The steps a container of the default spec goes through, in their order. */
function assertPlanOrder(text: string, hostname: string, program: string): void {
  const lines = text.split('\n');
  const unshare = lineOf(lines, /^unshare --mount --uts --ipc --net --pid /);
  const proc = lineOf(lines, /mount -t proc proc \S+\/proc$/);
  const pivot = lineOf(lines, /pivot_root \. \. && umount -l \./);
  const masked = lineOf(lines, /mount --bind \/dev\/null \/proc\/keys/);
  const host = lineOf(lines, new RegExp(`^hostname ${hostname}$`));
  const exec = lineOf(lines, new RegExp(`^exec (setpriv .* )?env -i .* ${program}`));
  assert.ok(unshare < proc && proc < pivot && pivot < masked && masked < host && host < exec, text);
  assert.equal(exec, lines.filter((l) => l !== '').length - 1, 'exec is not the last step');
}

describe('--dry-run', () => {
  test('create --dry-run and run --dry-run print the plan on stdout and create nothing', async (t) => {
    const root = tempRoot(t);
    const name = unique('dry-host');
    const bundle = await makeBundle({ args: ['sleep', '1000'], edit: (s) => (s.hostname = name) });
    t.after(bundle.cleanup);
    for (const command of ['create', 'run']) {
      const id = unique(command);
      const r = runtime(root, command, '--dry-run', '--bundle', bundle.dir, id);
      assert.equal(r.status, 0, show(r));
      assert.equal(r.stderr, '');
      assertPlanOrder(r.stdout, name, 'sleep 1000');
      assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
      assert.deepEqual(readdirSync(root), []);
    }
  });

  test('without a mount namespace the plan is a chroot, not a pivot_root, and its mounts are said to be the caller\'s', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({
      args: ['true'],
      edit: (s) => {
        s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'mount');
        delete s.linux!.maskedPaths;
        delete s.linux!.readonlyPaths;
        s.root.readonly = false;
      },
    });
    t.after(bundle.cleanup);
    const r = runtime(root, 'create', '--dry-run', '--bundle', bundle.dir, unique('chroot'));
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, new RegExp(`^cd ${bundle.rootfs} && chroot \\.$`, 'm'));
    assert.doesNotMatch(r.stdout, /pivot_root/);
    // Said once, before the first mount, which is the spec's /proc.
    assert.match(r.stdout, /^# no mount namespace: the mounts below are made in the caller's own mount namespace \(the host's\).*\n(mkdir -p \S+ && )?mount -t proc /m);
    assert.equal(r.stdout.split('# no mount namespace').length, 2);
  });

  test('exec --dry-run prints the join plan and starts nothing', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('exec-dry');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    const pid = (JSON.parse(runtimeOk(root, 'state', id)) as { pid: number }).pid;
    const marker = unique('never-ran');
    const r = runtime(root, 'exec', '--dry-run', id, 'sh', '-c', `echo ${marker}`);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stdout, new RegExp(`^nsenter .*--pid=/proc/${pid}/ns/pid .*--mount=/proc/${pid}/ns/mnt`, 'm'));
    assert.match(r.stdout, new RegExp(`^exec (setpriv .* )?env -i .* sh -c 'echo ${marker}'(   # .*)?$`, 'm'));
    assert.equal(r.stdout.split('\n').filter((l) => l === marker).length, 0, 'the process ran');
  });
});

describe('--explain', () => {
  test('run --explain prints the plan on stderr, then runs the container', async (t) => {
    const root = tempRoot(t);
    const name = unique('explain-host');
    const bundle = await makeBundle({ args: ['sh', '-c', 'echo "hello from $(hostname), pid $$"'], edit: (s) => (s.hostname = name) });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--explain', '--bundle', bundle.dir, unique('explain'));
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, `hello from ${name}, pid 1\n`);
    assertPlanOrder(r.stderr, name, 'sh -c');
    assert.deepEqual(readdirSync(root), []);
  });

  test('exec --explain prints the join plan on stderr, then runs the process', async (t) => {
    const root = tempRoot(t);
    const bundle = await makeBundle({ args: ['sleep', '1000'] });
    t.after(bundle.cleanup);
    const id = unique('exec-explain');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    const r = runtime(root, 'exec', '--explain', id, 'hostname');
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout, 'berth\n');
    assert.match(r.stderr, /^nsenter /m);
    assert.match(r.stderr, /^exec (setpriv .* )?env -i .* hostname(   # .*)?$/m);
  });
});

test('the library: buildPlan of a bundle pivots after every spec mount and execs last', async (t) => {
  const bundle = await makeBundle({ args: ['true'] });
  t.after(bundle.cleanup);
  const { spec, rootfs } = loadBundle(bundle.dir);
  const plan = buildPlan(spec, { bundle: bundle.dir, rootfs, cgroupPath: '/berth/library', stdio: [0, 1, 2] });
  const ops = plan.steps.map((s) => s.op);
  const pivot = ops.indexOf('pivotRoot');
  assert.notEqual(pivot, -1);
  assert.equal(ops.lastIndexOf('openRoot') < pivot, true);
  // Every spec mount is made before the pivot, with its target resolved inside the root.
  for (const m of spec.mounts ?? []) {
    const at = plan.steps.findIndex((s) => s.op === 'mount' && 'inRoot' in s.target && s.target.inRoot === m.destination);
    assert.ok(at !== -1 && at < pivot, `${m.destination} is not mounted in the root before the pivot`);
  }
  // Masks come after it (they hide the container's own /proc), exec last; nothing ran.
  assert.ok(ops.indexOf('mask') > pivot);
  assert.equal(ops[ops.length - 1], 'exec');
});
