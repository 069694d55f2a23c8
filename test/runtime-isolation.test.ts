// The filesystem boundary: why berth pivots the root (the classic chroot escape, shown working
// without a mount namespace and failing with one), and mount destinations that are symlinks in the
// image, which must land inside the rootfs and never redirect a mount to the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import type { TestContext } from 'node:test';
import { addCapabilities, bindMount, makeBundle } from './helpers/bundle.js';
import { runtime, show, tempRoot, unique } from './helpers/run.js';
import type { Spec } from '../src/oci/runtime-spec.js';

/** A secret in a host directory the container must never reach. */
function hostMarker(t: TestContext): { path: string; secret: string } {
  const dir = mkdtempSync('/tmp/berth-marker-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const secret = randomBytes(12).toString('hex');
  const path = join(dir, 'secret');
  writeFileSync(path, secret);
  return { path, secret };
}

/** No mount namespace: the process is only chrooted into the rootfs (pid, uts, ipc and net stay private). */
function chrootOnly(spec: Spec): void {
  const linux = (spec.linux ??= {});
  linux.namespaces = (linux.namespaces ?? []).filter((n) => ['pid', 'uts', 'ipc', 'network'].includes(n.type));
  delete spec.mounts;
  delete linux.maskedPaths;
  delete linux.readonlyPaths;
  spec.root.readonly = false;
}

describe('the chroot escape: why berth uses pivot_root', () => {
  test('chroot alone (no mount namespace): mkdir x; chroot x; cd ../..; chroot . reaches the host’s marker file', async (t) => {
    const root = tempRoot(t);
    const marker = hostMarker(t);
    const bundle = await makeBundle({
      args: ['probe', 'chroot-escape', marker.path, '/tmp'],
      probe: true,
      edit: (s) => {
        chrootOnly(s);
        addCapabilities(s, 'CAP_SYS_CHROOT');
      },
    });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('chroot'));
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), `ESCAPED ${marker.secret}`);
  });

  test('pivot_root in a mount namespace (the default spec): the same escape stays inside', async (t) => {
    const root = tempRoot(t);
    const marker = hostMarker(t);
    const bundle = await makeBundle({
      args: ['probe', 'chroot-escape', marker.path, '/dev/shm'],
      probe: true,
      edit: (s) => addCapabilities(s, 'CAP_SYS_CHROOT'),
    });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('pivot'));
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'CONTAINED');
  });

  test('--no-pivot (MS_MOVE onto / then chroot) in a mount namespace: the escape stays inside too', async (t) => {
    const root = tempRoot(t);
    const marker = hostMarker(t);
    const bundle = await makeBundle({
      args: ['probe', 'chroot-escape', marker.path, '/dev/shm'],
      probe: true,
      edit: (s) => addCapabilities(s, 'CAP_SYS_CHROOT'),
    });
    t.after(bundle.cleanup);
    const r = runtime(root, 'run', '--no-pivot', '--bundle', bundle.dir, unique('nopivot'));
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'CONTAINED');
  });
});

/** Every file and directory under `dir`, with file contents: a snapshot to compare. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      out[relative(dir, p)] = st.isDirectory() ? 'dir' : readFileSync(p, 'utf8');
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

describe('symlinked mount destinations land inside the rootfs', () => {
  test('absolute, ../../.., a chain, a symlinked parent, and a bind: the host paths are unchanged', async (t) => {
    const root = tempRoot(t);
    // Host directories an image's symlinks point at; the container must not mount over or write into them.
    const host = mkdtempSync('/tmp/berth-hostdir-');
    t.after(() => rmSync(host, { recursive: true, force: true }));
    for (const sub of ['abs', 'rel', 'chain', 'via', 'bind']) mkdirSync(join(host, sub));
    writeFileSync(join(host, 'bind', 'host-file'), 'host');
    const source = mkdtempSync('/tmp/berth-bindsrc-');
    t.after(() => rmSync(source, { recursive: true, force: true }));
    writeFileSync(join(source, 'from-source'), 'source');
    const before = tree(host);

    const targets = ['abs', 'rel', 'c1', 'via/mid'];
    const script = [
      ...targets.map((d) => `echo ${d} > /${d}/written && echo "wrote ${d}"`),
      'cat /bnd/from-source; echo; echo bnd > /bnd/written && echo "wrote bnd"',
      'echo "== mounts"',
      `grep " ${host}" /proc/self/mountinfo | cut -d" " -f5,9`,
    ].join('\n');
    const bundle = await makeBundle({
      args: ['sh', '-c', script],
      setup: (rootfs) => {
        symlinkSync(join(host, 'abs'), join(rootfs, 'abs'));
        symlinkSync('../../../../../../..' + join(host, 'rel'), join(rootfs, 'rel'));
        symlinkSync('c2', join(rootfs, 'c1'));
        symlinkSync(join(host, 'chain'), join(rootfs, 'c2'));
        symlinkSync(join(host, 'via'), join(rootfs, 'via'));
        symlinkSync(join(host, 'bind'), join(rootfs, 'bnd'));
      },
      edit: (s) => {
        for (const d of targets) (s.mounts ??= []).push({ destination: `/${d}`, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev'] });
        bindMount(s, source, '/bnd');
      },
    });
    t.after(bundle.cleanup);

    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('symlinks'));
    assert.equal(r.status, 0, show(r));
    const [writes, mounts] = r.stdout.split('== mounts\n');
    // The container saw its own mounts and could write into each.
    assert.deepEqual(writes.trim().split('\n'), ['wrote abs', 'wrote rel', 'wrote c1', 'wrote via/mid', 'source', 'wrote bnd']);
    // Inside, the symlinks were followed within the rootfs: the mounts sit at the links' targets
    // as paths of the container's own tree.
    const seen = mounts.trim().split('\n').sort();
    assert.deepEqual(seen.map((l) => l.split(' ')[0]), ['abs', 'bind', 'chain', 'rel', 'via/mid'].map((d) => `${host}/${d}`), mounts);
    for (const line of seen) assert.ok(line.endsWith(' tmpfs') === !line.includes('/bind '), line);
    // On the host: the directories the links name are exactly as they were.
    assert.deepEqual(tree(host), before);
    // The mount points were made inside the rootfs instead, and are empty now the tmpfs are gone.
    for (const sub of ['abs', 'rel', 'chain', 'via/mid', 'bind']) {
      assert.deepEqual(readdirSync(join(bundle.rootfs, host, sub)), [], `${sub} inside the rootfs`);
    }
    // The bind did what a bind does: the container's write is in its source.
    assert.equal(readFileSync(join(source, 'written'), 'utf8'), 'bnd\n');
    assert.ok(!existsSync(join(host, 'bind', 'written')));
  });
});
