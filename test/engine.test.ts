// berth as an engine, through its CLI as a person uses it: the seed's walk-through (import a rootfs
// tar, run it, delete a file of the image, see the whiteout), a layered image's round trip
// (load → run → commit → save → load), and no mount ever left behind.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ImageStore } from '../src/image/index.js';
import { buildTestImage, busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { unique, waitFor } from './helpers/run.js';
import { BERTH, berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { saveHostNetwork } from './helpers/host-network.js';

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
// `berth run` is on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

/** Overlay mounts on the host that mention `root`: there must never be any once a command is done. */
function overlaysUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(' - overlay ') && l.includes(root));
}

test('the seed\'s walk-through: import a rootfs tar, run it, delete a file of the image: a whiteout in upper, the layer untouched', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  const tar = busyboxRootfsTar(t);
  const imageId = ok(berth('import', tar, 'seed:walk')).trim();
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  assert.match(ok(berth('images')), /^seed\s+walk\s+[0-9a-f]{12}\s/m);

  const name = unique('walk');
  const out = ok(berth('run', '--name', name, 'seed:walk', 'sh', '-c', 'ps -o pid,comm; cat /etc/motd; rm /etc/motd; ls /etc/motd 2>&1; ls /host-marker 2>&1 || true'));
  // One process (the shell, PID 1) and ps itself; the host's root is not reachable from inside.
  assert.match(out, /^\s*1 sh$/m);
  assert.equal(out.split('\n').filter((l) => /^\s*\d+ /.test(l)).length, 2, out);
  assert.match(out, /from the image/);
  assert.match(out, /ls: \/etc\/motd: No such file or directory/);

  // The deletion is a whiteout (a character device 0/0) in the container's upper dir...
  const containerId = ok(berth('ps', '-aq', '--no-trunc')).trim();
  const upperMotd = lstatSync(join(root, 'containers', containerId, 'upper/etc/motd'));
  assert.ok(upperMotd.isCharacterDevice() && upperMotd.rdev === 0, 'a whiteout in upper');
  // ...and the file is still in the image's layer.
  const layers = readdirSync(join(root, 'storage/layers'));
  assert.equal(layers.length, 1);
  assert.equal(readFileSync(join(root, 'storage/layers', layers[0], 'etc/motd'), 'utf8'), 'from the image\n');
  assert.deepEqual(ok(berth('diff', name)).trim().split('\n'), ['C /etc', 'D /etc/motd']);
  assert.deepEqual(overlaysUnder(root), []);
});

test('a layered image round-trips: load → run → commit → save → load, digests stable, whiteouts as overlayfs expects', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  await buildTestImage(new ImageStore(root), 'layers:1');
  // Layer 1 deleted /etc/removed-me and made /opt/data opaque (old-1, old-2 gone; new there).
  const seen = ok(berth('run', '--rm', 'layers:1', 'sh', '-c', 'ls /etc/removed-me 2>&1; ls /opt/data; cat /hello.txt; echo changed > /hello.txt; rm /etc/motd'));
  assert.match(seen, /No such file or directory/);
  assert.match(seen, /^new$/m);
  assert.doesNotMatch(seen, /old-1|old-2/);

  const name = unique('rt');
  ok(berth('run', '--name', name, 'layers:1', 'sh', '-c', 'echo changed > /hello.txt; rm /etc/motd; mkdir -p /opt/data2; echo x > /opt/data2/f'));
  const committed = ok(berth('commit', name, 'layers:committed')).trim();
  assert.match(committed, /^sha256:/);
  // As docker commit: the container's own command, env and workdir become the image's.
  const withConfig = unique('cfg');
  ok(berth('run', '--name', withConfig, '-e', 'MADE=by-run', '-w', '/opt', 'layers:1', 'sh', '-c', 'echo "$MADE in $(pwd)"'));
  ok(berth('commit', withConfig, 'layers:config'));
  const config = JSON.parse(ok(berth('image', 'inspect', '-f', '{{json .Config}}', 'layers:config'))) as { Cmd: string[]; Env: string[]; WorkingDir: string };
  assert.deepEqual(config.Cmd, ['sh', '-c', 'echo "$MADE in $(pwd)"']);
  assert.ok(config.Env.includes('MADE=by-run'), JSON.stringify(config.Env));
  assert.ok(!config.Env.some((e) => e.startsWith('HOSTNAME=')), `the container's hostname is not the image's: ${config.Env}`);
  assert.equal(config.WorkingDir, '/opt');
  assert.equal(ok(berth('run', '--rm', 'layers:config')), 'by-run in /opt\n');

  const dir = mkdtempSync('/tmp/berth-test-save-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const format of ['docker', 'oci']) {
    const archive = join(dir, `${format}.tar`);
    ok(berth('save', '-o', archive, '--format', format, 'layers:committed'));
    const { root: root2, berth: berth2 } = berthRoot(t);
    ok(berth2('load', '-i', archive));
    const inspect = (b: typeof berth) => JSON.parse(ok(b('image', 'inspect', 'layers:committed')))[0];
    assert.equal(inspect(berth2).Id, committed, `${format}: the same image id after save and load`);
    assert.deepEqual(inspect(berth2).RootFS.Layers, inspect(berth).RootFS.Layers);
    const content = ok(berth2('run', '--rm', 'layers:committed', 'sh', '-c', 'cat /hello.txt; ls /etc/motd 2>&1; cat /opt/data2/f; ls /opt/data'));
    assert.equal(content, 'changed\nls: /etc/motd: No such file or directory\nx\nnew\n');
    assert.deepEqual(overlaysUnder(root2), []);
  }
});

test('run: the image config decides the process (Entrypoint, Cmd, Env, WorkingDir, User), flags override it', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  await buildTestImage(new ImageStore(root), 'layers:1');
  const out = ok(berth('run', '--rm', '-e', 'EXTRA=1', '-w', '/etc', '-u', 'nobody', '--hostname', 'hosty', 'layers:1', 'sh', '-c', 'pwd; id -u; echo $EXTRA; hostname; cat /etc/hostname; echo $PATH'));
  assert.equal(out, '/etc\n65534\n1\nhosty\nhosty\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
  // -t's TERM=xterm is a default under the container's env, as docker's: a given TERM wins.
  assert.equal(ok(berth('run', '--rm', '-t', 'layers:1', 'sh', '-c', 'echo $TERM')), 'xterm\r\n');
  assert.equal(ok(berth('run', '--rm', '-t', '-e', 'TERM=vt100', 'layers:1', 'sh', '-c', 'echo $TERM')), 'vt100\r\n');
  const termSource = unique('term');
  ok(berth('run', '--name', termSource, 'layers:1', 'true'));
  ok(berth('commit', '--change', 'ENV TERM=linux', termSource, 'layers:term'));
  ok(berth('rm', termSource));
  assert.equal(ok(berth('run', '--rm', '-t', 'layers:term', 'sh', '-c', 'echo $TERM')), 'linux\r\n');
  const entry = ok(berth('run', '--rm', '--entrypoint', 'echo', 'layers:1', 'from', 'entrypoint'));
  assert.equal(entry, 'from entrypoint\n');
  // docker's exit codes: 127 for a program that does not exist, 125 for berth's own errors.
  assert.equal(berth('run', '--rm', 'layers:1', 'no-such-program').status, 127);
  const missing = berth('run', '--rm', 'no-such-image:1', 'true');
  assert.equal(missing.status, 125);
  assert.match(missing.stderr, /^berth: .*no-such-image/m);
  // docker's words for a user the image does not have, one line.
  const noUser = berth('run', '--rm', '-u', 'nosuchuser', 'layers:1', 'true');
  assert.equal(noUser.status, 125);
  assert.equal(noUser.stderr, "berth: unable to find user nosuchuser: no matching entries in the image's /etc/passwd\n");
  assert.equal(ok(berth('ps', '-aq')), '', '--rm and failed runs leave no container');
  assert.deepEqual(overlaysUnder(root), []);
});

test('run: --read-only makes the rootfs read-only (the limits: engine-limits.test.ts)', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  await buildTestImage(new ImageStore(root), 'layers:1');
  const ro = berth('run', '--rm', '--read-only', 'layers:1', 'sh', '-c', 'touch /x 2>&1; echo done');
  assert.match(ok(ro), /Read-only file system/);
  assert.deepEqual(overlaysUnder(root), []);
});

test('a killed berth run leaves no mount behind, and rm -f cleans up the container', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  await buildTestImage(new ImageStore(root), 'layers:1');
  const name = unique('killed');
  const child = spawn(process.execPath, [BERTH, 'run', '--name', name, 'layers:1', 'sleep', '60'], { env: { ...process.env, BERTH_ROOT: root }, stdio: 'ignore' });
  await waitFor('the container to run', () => berth('ps', '-q').stdout.trim() !== '', 20_000, 50);
  child.kill('SIGKILL');
  await new Promise((r) => child.on('exit', r));
  // The overlay lives in the container's own mount namespace: the host never had it.
  assert.deepEqual(overlaysUnder(root), []);
  ok(berth('rm', '-f', name));
  assert.equal(ok(berth('ps', '-aq')), '');
  assert.equal(existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')).length : 0, 0);
});

test('--isolation chroot: the seed\'s first way, no mount namespace (the host’s), a pid namespace of its own; the overlay is unmounted after', { skip }, async (t) => {
  const { root, env, berth } = berthRoot(t);
  await buildTestImage(new ImageStore(root), 'layers:1');
  const name = unique('chroot');
  // The container has no /proc of its own to look in (no mounts at all): it is looked at from the
  // host while it waits on its stdin.
  const child = spawn(process.execPath, [BERTH, 'run', '--rm', '-i', '--name', name, '--isolation', 'chroot', 'layers:1', 'sh', '-c', 'cat /hello.txt; read line; echo "got $line"'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => void child.kill('SIGKILL'));
  await waitFor('the container to start', () => /hello/.test(out) || child.exitCode !== null, 20_000, 20);
  const pid = Number(ok(berth('inspect', '-f', '{{.State.Pid}}', name)).trim());
  assert.ok(pid > 0, out);
  const ns = (p: number | 'self', kind: string) => readlinkSync(`/proc/${p}/ns/${kind}`);
  assert.equal(ns(pid, 'mnt'), ns('self', 'mnt'), 'the chroot container has a mount namespace of its own');
  assert.notEqual(ns(pid, 'pid'), ns('self', 'pid'));
  assert.notEqual(readlinkSync(`/proc/${pid}/root`), '/');
  child.stdin.end('bye\n');
  assert.equal(await exited, 0, out);
  assert.match(out, /got bye/);
  assert.deepEqual(overlaysUnder(root), []);
});
