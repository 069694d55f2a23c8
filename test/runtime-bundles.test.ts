// Bundles as berth's peers are given them, each run by berth-runtime as runc and crun run it:
// the config.json `runc spec` writes (ambient capabilities with no inheritable set); a user namespace
// whose root is another uid on the host, created and then started (runtime-tools' linux_uid_mappings);
// rootfsPropagation shared and unbindable; no mount namespace at all (linux_ns_itype); a seccomp
// profile that denies a syscall the runtime's own steps make (linux_seccomp).
// Each config is the generator's own output, changed only where a test must (the command, and
// `terminal: false` where no console socket is given).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../src/oci/runtime-spec.js';
import { addCapabilities, makeBundle, type Bundle } from './helpers/bundle.js';
import { CLI, isAlivePid, runtime, runtimeOk, runtimeWith, scratchDir, show, tempRoot, unique, waitFor } from './helpers/run.js';

/** A busybox bundle whose config.json is what `runc spec` writes there, then `edit`ed. */
async function runcSpecBundle(t: TestContext, args: string[], edit: (spec: Spec) => void = () => {}): Promise<Bundle> {
  const bundle = await makeBundle({ args });
  t.after(bundle.cleanup);
  rmSync(bundle.config); // runc spec writes no config over another
  execFileSync('runc', ['spec'], { cwd: bundle.dir });
  const spec = JSON.parse(readFileSync(bundle.config, 'utf8')) as Spec;
  spec.process.args = args;
  spec.process.terminal = false;
  edit(spec);
  writeFileSync(bundle.config, JSON.stringify(spec, null, '\t') + '\n');
  return bundle;
}

/** The capability sets of /proc/self/status lines, as numbers. */
function capSets(status: string): Record<string, bigint> {
  return Object.fromEntries([...status.matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)].map(([, name, hex]) => [name, BigInt(`0x${hex}`)]));
}

test('runc spec: its ambient capabilities, with no inheritable set, are skipped with a warning as runc and crun skip them', async (t) => {
  const root = tempRoot(t);
  const bundle = await runcSpecBundle(t, ['sh', '-c', 'grep ^Cap /proc/self/status']);
  const r = runtime(root, 'run', '--bundle', bundle.dir, unique('runc-spec'));
  assert.equal(r.status, 0, show(r));
  const WANTED = (1n << 29n) | (1n << 5n) | (1n << 10n); // CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
  assert.deepEqual(capSets(r.stdout), { CapInh: 0n, CapPrm: WANTED, CapEff: WANTED, CapBnd: WANTED, CapAmb: 0n });
  assert.match(r.stderr, /warning: process\.capabilities\.ambient: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE not raised/);
});

/** `create`, the container's stdout (which engines hand create) going to a file read by `output`. */
function create(root: string, bundle: Bundle, id: string): { status: number | null; stderr: string; output: () => string } {
  const file = join(scratchDir(), `${id}.out`);
  const fd = openSync(file, 'w+');
  try {
    const r = runtimeWith(root, ['create', '--bundle', bundle.dir, id], { stdout: fd });
    return { status: r.status, stderr: r.stderr, output: () => readFileSync(file, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

test('a user namespace whose root is another host uid: create leaves it created, start runs it (runtime-tools linux_uid_mappings)', async (t) => {
  const root = tempRoot(t);
  const bundle = await makeBundle({
    args: ['sh', '-c', 'id -u; cat /proc/self/uid_map /proc/self/gid_map'],
    // The generator's maps: the container's 0 is the host's 1000 (uids 2000 of them, gids 3000).
    edit: (s) => {
      s.linux!.namespaces!.push({ type: 'user' });
      s.linux!.uidMappings = [{ containerID: 0, hostID: 1000, size: 2000 }];
      s.linux!.gidMappings = [{ containerID: 0, hostID: 1000, size: 3000 }];
    },
  });
  t.after(bundle.cleanup);
  const id = unique('userns');
  const c = create(root, bundle, id);
  assert.equal(c.status, 0, c.stderr);
  const created = JSON.parse(runtimeOk(root, 'state', id)) as { status: string; pid: number };
  assert.equal(created.status, 'created');
  assert.ok(isAlivePid(created.pid), `pid ${created.pid} of a created container is not alive`);
  runtimeOk(root, 'start', id);
  await waitFor('the container to exit', () => !isAlivePid(created.pid));
  const lines = c.output().trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
  assert.deepEqual(lines, ['0', '0 1000 2000', '0 1000 3000']);
  runtimeOk(root, 'delete', id);
});

/** A container of runtime-tools' linux_rootfs_propagation shape: CAP_SYS_ADMIN, no seccomp, the propagation asked. */
async function propagationBundle(t: TestContext, propagation: 'shared' | 'unbindable', script: string): Promise<Bundle> {
  const bundle = await makeBundle({
    args: ['sh', '-c', script],
    setup: (rootfs) => {
      for (const dir of ['target', 'mnt', 'test']) mkdirSync(join(rootfs, dir));
      writeFileSync(join(rootfs, 'test/example'), '');
    },
    edit: (s) => {
      addCapabilities(s, 'CAP_SYS_ADMIN');
      delete s.linux!.seccomp;
      s.linux!.rootfsPropagation = propagation;
    },
  });
  t.after(bundle.cleanup);
  return bundle;
}

test('rootfsPropagation shared and unbindable: the pivoted root has it, and the host has none of its mounts', async (t) => {
  const root = tempRoot(t);
  // shared: a bind of "/" is its peer, so a mount made under "/" afterwards shows in the bind too.
  const shared = await propagationBundle(t, 'shared', [
    'mount -o rbind / /target',
    'mount -o bind /test /mnt',
    'ls /target/mnt',
    "awk '$5 == \"/\" && / shared:/' /proc/self/mountinfo | wc -l",
  ].join(' && '));
  const r = runtime(root, 'run', '--bundle', shared.dir, unique('shared'));
  assert.equal(r.status, 0, show(r));
  assert.deepEqual(r.stdout.trim().split('\n'), ['example', '1']);
  // unbindable: "/" cannot be bound at all.
  const unbindable = await propagationBundle(t, 'unbindable', 'mount -o rbind / /target 2>&1; awk \'$5 == "/" && / unbindable /\' /proc/self/mountinfo | wc -l');
  const u = runtime(root, 'run', '--bundle', unbindable.dir, unique('unbindable'));
  assert.equal(u.status, 0, show(u));
  assert.match(u.stdout, /Invalid argument\n1\n$/);
});

test('no mount namespace (runtime-tools linux_ns_itype): the spec\'s mounts are made in the caller\'s, which the container shares', async (t) => {
  const root = tempRoot(t);
  const bundle = await makeBundle({
    args: ['sh', '-c', 'readlink /proc/self/ns/mnt; ls /proc/self/status /dev/null /dev/pts/ptmx'],
    // The generator's shape: every namespace removed, and with them the hostname; its default has
    // no masked or read-only paths and a writable root.
    edit: (s) => {
      s.linux!.namespaces = [];
      delete s.hostname;
      delete s.linux!.maskedPaths;
      delete s.linux!.readonlyPaths;
      s.root.readonly = false;
    },
  });
  t.after(bundle.cleanup);
  // Its mounts land in the namespace the runtime runs in: a namespace of the test's own, gone with it.
  const script = `${process.execPath} ${CLI} --root ${root} run --bundle ${bundle.dir} ${unique('nomntns')}; echo "exit $?"; readlink /proc/self/ns/mnt; grep -c ' ${bundle.rootfs}/' /proc/self/mountinfo`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', timeout: 30_000 });
  const [insideNs, devNull, ptmx, proc, exit, callerNs, mounts] = r.stdout.trim().split('\n'); // ls sorts
  assert.equal(exit, 'exit 0', `${r.stdout}${r.stderr}`);
  assert.equal(insideNs, callerNs);
  assert.deepEqual([devNull, ptmx, proc], ['/dev/null', '/dev/pts/ptmx', '/proc/self/status']);
  assert.ok(Number(mounts) >= 5, `the caller's namespace has ${mounts} mounts under the rootfs`);
});

test('a profile that denies getcwd (runtime-tools linux_seccomp): the container starts, and its getcwd fails', async (t) => {
  const root = tempRoot(t);
  const bundle = await makeBundle({
    args: ['sh', '-c', 'cd /bin && pwd -P; echo "status $?"'],
    edit: (s) => {
      s.process.noNewPrivileges = false;
      s.linux!.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getcwd'], action: 'SCMP_ACT_ERRNO' }] };
    },
  });
  t.after(bundle.cleanup);
  const r = runtime(root, 'run', '--bundle', bundle.dir, unique('seccomp'));
  assert.equal(r.status, 0, show(r));
  // busybox's pwd prints an empty line when getcwd fails, where it would print /bin.
  assert.equal(r.stdout.replace(/\nstatus \d+\n$/, ''), '');
});
