// Volumes, mounts and cp, through berth's CLI as a person uses them: host binds (rw, ro), named
// volumes copied up from the image once, anonymous volumes gone with their container, tmpfs with
// its options, bad flags refused with nothing left behind, and `cp` both ways on stopped and
// running containers — with symlinks inside the container that try to reach the host.
import { after, test, type TestContext } from 'node:test';
import { saveHostNetwork } from './helpers/host-network.js';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.js';
import { native } from '../src/kernel/native.js';
import { commitImage, ImageStore } from '../src/image/index.js';
import { busyboxAvailable, busyboxLayers, BUSYBOX_MISSING_REASON, FIXTURE_CONFIG } from './helpers/image-fixture.js';
import { unique, waitFor } from './helpers/run.js';
import { BERTH, berthRoot as cliRoot, hostMountsMentioning, ok, PROJECT, type Berth, type Result } from './helpers/berth-cli.js';

const berthRoot = (t: TestContext) => cliRoot(t, 'volumes');

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
// Containers are on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

function scratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(`/tmp/berth-test-${prefix}-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A busybox image with what the tests need in it: /data with a file (owner 1234:555, mode 0640,
 * an xattr, an old mtime), a symlink and a subdir, for copy-up; /etc/motd; and symlinks that aim
 * at `hostMarker` (a host directory) from inside: absolute, a `..` chain, a chain of links.
 */
function buildImage(t: TestContext, berth: Berth, ref: string, hostMarker: string): void {
  const dir = scratch(t, 'volimg');
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  const rootfs = join(dir, 'bundle/rootfs');
  mkdirSync(join(rootfs, 'data/sub'), { recursive: true });
  writeFileSync(join(rootfs, 'data/file'), 'from the image\n', { mode: 0o640 });
  chownSync(join(rootfs, 'data/file'), 1234, 555);
  native.lsetxattr(join(rootfs, 'data/file'), 'user.berth', Buffer.from('kept'));
  utimesSync(join(rootfs, 'data/file'), 1_000_000_000, 1_000_000_000);
  symlinkSync('file', join(rootfs, 'data/link'));
  writeFileSync(join(rootfs, 'data/sub/deep'), 'deep\n');
  writeFileSync(join(rootfs, 'etc/motd'), 'motd of the image\n');
  symlinkSync(hostMarker, join(rootfs, 'abs'));
  symlinkSync(`../../../../../../..${hostMarker}`, join(rootfs, 'rel'));
  symlinkSync('/chain2', join(rootfs, 'chain1'));
  symlinkSync('/rel', join(rootfs, 'chain2'));
  // A mount target that is a symlink climbing out: the runtime must resolve it inside the rootfs.
  symlinkSync(`/../../..${hostMarker}/mountpoint`, join(rootfs, 'bindlink'));
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['--xattrs', '--xattrs-include=user.*', '-C', rootfs, '-cf', tar, '.']);
  ok(berth('import', tar, ref));
}

/** A host directory that symlinks in the image aim at: a secret that must stay unread, nothing new written. */
function hostMarker(t: TestContext): { dir: string; untouched: () => void } {
  const dir = scratch(t, 'host-marker');
  writeFileSync(join(dir, 'secret'), 'host secret\n');
  return {
    dir,
    untouched: () => {
      assert.deepEqual(readdirSync(dir), ['secret'], `something was written into the host's ${dir}`);
      assert.equal(readFileSync(join(dir, 'secret'), 'utf8'), 'host secret\n');
      assert.deepEqual(hostMountsMentioning(dir), [], `a mount on the host's ${dir}`);
    },
  };
}

function setup(t: TestContext) {
  const env = berthRoot(t);
  const marker = hostMarker(t);
  const image = `vols:${unique('t').replace(/[^a-z0-9]/g, '')}`;
  buildImage(t, env.berth, image, marker.dir);
  return { ...env, marker, image };
}

function volumeNames(berth: Berth): string[] {
  return ok(berth('volume', 'ls', '-q')).split('\n').filter(Boolean);
}

test('host binds: rw writes reach the host, a ro bind refuses writes; a bind target that is a symlink out of the rootfs stays inside it', { skip }, async (t) => {
  const { berth, marker, image } = setup(t);
  const rw = scratch(t, 'bind-rw');
  const ro = scratch(t, 'bind-ro');
  writeFileSync(join(rw, 'from-host'), 'hello\n');
  writeFileSync(join(ro, 'from-host'), 'read me\n');
  const out = ok(berth('run', '--rm', '-v', `${rw}:/rw`, '-v', `${ro}:/ro:ro`, '--mount', `type=bind,source=${rw},target=/bindlink`, image, 'sh', '-c',
    'cat /rw/from-host /ro/from-host; echo written > /rw/from-ctr; (echo nope > /ro/from-ctr) 2>&1 || echo ro-refused; ' +
    `ls ${marker.dir}/mountpoint; cat /bindlink/from-host; ls ${marker.dir}/secret 2>&1 || echo no-host-secret`));
  assert.match(out, /hello\nread me\n/);
  assert.match(out, /Read-only file system/);
  assert.match(out, /ro-refused/);
  assert.equal(readFileSync(join(rw, 'from-ctr'), 'utf8'), 'written\n');
  // -v of a host directory not there yet makes it, as dockerd does (--mount's must exist: below).
  ok(berth('run', '--rm', '-v', `${rw}/made/by-run:/made`, image, 'sh', '-c', 'echo in-made > /made/f'));
  assert.equal(readFileSync(join(rw, 'made/by-run/f'), 'utf8'), 'in-made\n');
  assert.equal(existsSync(join(ro, 'from-ctr')), false);
  // The bind landed on the symlink's target as resolved inside the rootfs: the container sees the
  // bound dir there, and the host's own directory of that name got neither a mount nor an entry.
  assert.match(out, /from-ctr\nfrom-host\n/);
  assert.match(out, /no-host-secret/);
  marker.untouched();
});

test('a named volume is copied up from the image once (owners, modes, xattrs, symlinks, times) and persists across containers; nocopy stays empty', { skip }, async (t) => {
  const { root, berth, image } = setup(t);
  const first = ok(berth('run', '--rm', '-v', 'shared:/data', image, 'sh', '-c', 'ls -ln /data/file; readlink /data/link; cat /data/sub/deep; rm /data/file; echo mine > /data/added'));
  assert.match(first, /^-rw-r----- +1 1234 +555 .* \/data\/file$/m);
  assert.match(first, /^file\ndeep\n$/m);
  const data = join(root, 'volumes/shared/_data');
  assert.equal(readlinkSync(join(data, 'link')), 'file');
  assert.equal(readFileSync(join(data, 'added'), 'utf8'), 'mine\n');
  // The second container finds the volume as the first left it: no second copy-up brings file back.
  const second = ok(berth('run', '--rm', '-v', 'shared:/data:ro', image, 'sh', '-c', 'ls /data; (echo x > /data/new) 2>&1 || true'));
  assert.equal(second.split('\n').filter((l) => /^(added|file|link|sub)$/.test(l)).join(' '), 'added link sub');
  assert.match(second, /Read-only file system/);

  // What was copied, looked at on the host from a fresh volume: owner, mode, xattr, mtime.
  ok(berth('run', '--rm', '-v', 'fresh:/data', image, 'true'));
  const st = lstatSync(join(root, 'volumes/fresh/_data/file'));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o7777, Math.round(st.mtimeMs / 1000)], [1234, 555, 0o640, 1_000_000_000]);
  assert.equal(native.lgetxattr(join(root, 'volumes/fresh/_data/file'), 'user.berth')?.toString(), 'kept');

  ok(berth('run', '--rm', '--mount', 'type=volume,source=empty,target=/data,volume-nocopy', image, 'true'));
  assert.deepEqual(readdirSync(join(root, 'volumes/empty/_data')), []);
  assert.deepEqual(volumeNames(berth), ['empty', 'fresh', 'shared']);
});

test('anonymous volumes: gone with --rm and with rm -v, kept by a plain rm', { skip }, async (t) => {
  const { berth, image } = setup(t);
  ok(berth('run', '--rm', '-v', '/data', '--mount', 'type=volume,target=/other', image, 'sh', '-c', 'ls /data/file'));
  assert.deepEqual(volumeNames(berth), []);

  const a = unique('anon');
  ok(berth('run', '--name', a, '-v', '/data', image, 'true'));
  const [anon] = volumeNames(berth);
  assert.match(anon, /^[0-9a-f]{64}$/);
  assert.match(ok(berth('volume', 'inspect', anon)), /"com\.docker\.volume\.anonymous": ""/);
  ok(berth('rm', '-v', a));
  assert.deepEqual(volumeNames(berth), []);

  const b = unique('anon');
  ok(berth('run', '--name', b, '-v', '/data', '-v', 'named:/n', image, 'true'));
  ok(berth('rm', b));
  assert.equal(volumeNames(berth).length, 2);
  // prune: anonymous unused ones by default, every unused one with -a.
  assert.match(ok(berth('volume', 'prune', '-f')), /Deleted Volumes:\n[0-9a-f]{64}\n/);
  assert.deepEqual(volumeNames(berth), ['named']);
  ok(berth('volume', 'prune', '-a', '-f'));
  assert.deepEqual(volumeNames(berth), []);
});

test('tmpfs from --tmpfs and --mount, mounted with their options', { skip }, async (t) => {
  const { berth, image } = setup(t);
  const out = ok(berth('run', '--rm', '--tmpfs', '/scratch:size=1m,mode=1770,exec', '--mount', 'type=tmpfs,target=/small,tmpfs-size=2m,tmpfs-mode=700,readonly', image, 'grep', 'tmpfs /s', '/proc/mounts'));
  const line = (path: string) => out.split('\n').find((l) => l.startsWith(`tmpfs ${path} `)) ?? assert.fail(`no tmpfs on ${path} in\n${out}`);
  const scratchOpts = line('/scratch').split(' ')[3].split(',');
  for (const o of ['rw', 'nosuid', 'nodev', 'size=1024k', 'mode=1770']) assert.ok(scratchOpts.includes(o), `${o} in ${scratchOpts}`);
  assert.ok(!scratchOpts.includes('noexec'), 'exec given: not noexec');
  const smallOpts = line('/small').split(' ')[3].split(',');
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec', 'size=2048k', 'mode=700']) assert.ok(smallOpts.includes(o), `${o} in ${smallOpts}`);
});

test('bad -v/--mount/--tmpfs: one line naming the flag, exit 125, no container and no volume left', { skip }, async (t) => {
  const { root, berth, image } = setup(t);
  const cases: Array<[string[], RegExp]> = [
    [['-v', 'good:/a', '-v', 'rel/path:/x'], /"-v, --volume".*includes invalid characters for a local volume name/],
    [['--mount', 'type=bind,source=/nonexistent-berth-src,target=/x'], /"--mount".*bind source path does not exist: \/nonexistent-berth-src/],
    [['-v', '/tmp:relative'], /mount path must be absolute/],
    [['-v', '/tmp:/x:bogus'], /"-v, --volume".*invalid mode: bogus/],
    [['-v', 'a:/b:ro:d'], /invalid volume specification: 'a:\/b:ro:d'/],
    [['-v', '/tmp:/'], /destination can't be '\/'/],
    [['-v', '/tmp:/x', '-v', 'vv:/x'], /Duplicate mount point: \/x/],
    [['--mount', 'type=bind,target=/x'], /"--mount".*field Source must not be empty/],
    [['--mount', 'type=nfs,target=/x'], /"--mount".*invalid value for 'type'/],
    [['--mount', 'type=volume,src=v,target=/x,bogus=1'], /unexpected key 'bogus'/],
    [['--mount', 'type=volume,src=v'], /field Target must not be empty/],
    [['--mount', 'type=tmpfs,target=/x,tmpfs-size=lots'], /invalid value for tmpfs-size: lots/],
    [['--mount', 'type=tmpfs,source=a,target=/x'], /field Source must not be specified/],
    [['--mount', 'type=bind,source=/tmp,target=/x,volume-nocopy'], /field VolumeOptions must not be specified/],
    [['--tmpfs', 'relative'], /"--tmpfs".*mount path must be absolute/],
    [['--tmpfs', '/x:nosuchopt'], /"--tmpfs".*invalid tmpfs option "nosuchopt"/],
  ];
  for (const [flags, message] of cases) {
    const r = berth('run', '--rm', ...flags, image, 'true');
    assert.equal(r.status, 125, `${flags.join(' ')}: exit ${r.status}\n${r.stderr}`);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, `${flags.join(' ')}: not one line:\n${r.stderr}`);
    assert.match(r.stderr, message, flags.join(' '));
    assert.equal(r.stdout, '');
  }
  assert.equal(ok(berth('ps', '-aq')), '');
  assert.deepEqual(volumeNames(berth), []);
  assert.deepEqual(existsSync(join(root, 'volumes')) ? readdirSync(join(root, 'volumes')) : [], []);
});

test('volume create/ls/inspect/rm: docker\'s shapes; a volume in use is refused, naming its container', { skip }, async (t) => {
  const { root, berth, image } = setup(t);
  assert.equal(ok(berth('volume', 'create', '--label', 'team=blue', 'made')), 'made\n');
  assert.equal(ok(berth('volume', 'create', 'made')), 'made\n'); // an existing name: the same volume
  assert.match(ok(berth('volume', 'create')), /^[0-9a-f]{64}\n$/);
  const [inspected] = JSON.parse(ok(berth('volume', 'inspect', 'made')));
  assert.deepEqual(Object.keys(inspected).sort(), ['CreatedAt', 'Driver', 'Labels', 'Mountpoint', 'Name', 'Options', 'Scope']);
  assert.equal(inspected.Driver, 'local');
  assert.equal(inspected.Scope, 'local');
  assert.deepEqual(inspected.Labels, { team: 'blue' });
  assert.equal(inspected.Mountpoint, join(root, 'volumes/made/_data'));
  assert.match(ok(berth('volume', 'ls')), /^DRIVER +VOLUME NAME\nlocal +[0-9a-f]{64}\nlocal +made\n$/);
  assert.equal(ok(berth('volume', 'inspect', '-f', '{{.Mountpoint}} {{index .Labels "team"}}', 'made')), `${join(root, 'volumes/made/_data')} blue\n`);
  assert.match(ok(berth('volume', 'ls', '--format', '{{.Name}}:{{.Driver}}')), /^[0-9a-f]{64}:local\nmade:local\n$/);
  const bad = berth('volume', 'create', 'bad/name');
  assert.equal(bad.status, 125);
  assert.match(bad.stderr, /invalid characters for a local volume name/);

  const user = unique('user');
  ok(berth('run', '--name', user, '-v', 'made:/data', image, 'true'));
  const refused = berth('volume', 'rm', '-f', 'made');
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, new RegExp(`remove made: volume is in use - \\[[0-9a-f]{12} \\(${user}\\)\\]`));
  assert.ok(volumeNames(berth).includes('made'));
  assert.ok(ok(berth('volume', 'prune', '-a', '-f')).includes('Total reclaimed space'));
  assert.ok(volumeNames(berth).includes('made'), 'prune removed a volume in use');
  ok(berth('rm', user));
  assert.equal(ok(berth('volume', 'rm', 'made')), 'made\n');
  assert.equal(berth('volume', 'rm', '-f', 'made').status, 0);
  assert.match(berth('volume', 'rm', 'made').stderr, /no such volume: made/);
});

/** The files of a tar, as `tar -tv` lists them (owners numeric). */
function tarListing(tar: Buffer): string {
  return execFileSync('tar', ['-tv', '--numeric-owner'], { input: tar, encoding: 'utf8' });
}

/** cp both ways on a container; `running` tells which root berth must have used. */
function copyBothWays(t: TestContext, berth: Berth, berthIn: (input: Buffer | string, ...args: string[]) => Result, berthRaw: (...args: string[]) => Buffer, ctr: string): void {
  const host = scratch(t, 'cp');
  // Out: a file to a new name, a dir into an existing dir, a dir's contents, -a keeps owners.
  ok(berth('cp', `${ctr}:/etc/motd`, join(host, 'motd-copy')));
  assert.equal(readFileSync(join(host, 'motd-copy'), 'utf8'), 'motd of the image\n');
  mkdirSync(join(host, 'into'));
  ok(berth('cp', `${ctr}:/data`, join(host, 'into')));
  assert.deepEqual(readdirSync(join(host, 'into/data')).sort(), ['file', 'link', 'sub']);
  assert.equal(readlinkSync(join(host, 'into/data/link')), 'file');
  assert.equal(statSync(join(host, 'into/data/file')).uid, 0, 'without -a the copy is the copier\'s');
  ok(berth('cp', '-a', `${ctr}:/data/.`, join(host, 'contents')));
  assert.deepEqual(readdirSync(join(host, 'contents')).sort(), ['file', 'link', 'sub']);
  const st = statSync(join(host, 'contents/file'));
  assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [1234, 555, 0o640]);
  const dirOnFile = berth('cp', `${ctr}:/data`, join(host, 'motd-copy'));
  assert.equal(dirOnFile.status, 125);
  assert.match(dirOnFile.stderr, /cannot copy a directory to a file/);
  assert.match(berth('cp', `${ctr}:/no/such`, host).stderr, /Could not find the file \/no\/such in container /);
  // -L follows a symlink given as the source; without it the link itself is copied.
  ok(berth('cp', `${ctr}:/data/link`, join(host, 'as-link')));
  assert.equal(readlinkSync(join(host, 'as-link')), 'file');
  ok(berth('cp', '-L', `${ctr}:/data/link`, join(host, 'followed')));
  assert.equal(readFileSync(join(host, 'followed'), 'utf8'), 'from the image\n');
  // A tar on stdout.
  assert.match(tarListing(berthRaw('cp', `${ctr}:/data`, '-')), /^-rw-r----- 1234\/555 +15 .* data\/file$/m);

  // In: a file into a dir, a file to a new name, a dir, a tar on stdin (-a keeps its owners).
  writeFileSync(join(host, 'new.txt'), 'from the host\n');
  mkdirSync(join(host, 'tree/inner'), { recursive: true });
  writeFileSync(join(host, 'tree/inner/leaf'), 'leaf\n');
  chownSync(join(host, 'tree/inner/leaf'), 4321, 765);
  ok(berth('cp', join(host, 'new.txt'), `${ctr}:/tmp/`));
  ok(berth('cp', join(host, 'new.txt'), `${ctr}:/tmp/renamed`));
  ok(berth('cp', '-a', join(host, 'tree'), `${ctr}:/tmp`));
  ok(berthIn(execFileSync('tar', ['-C', host, '-cf', '-', 'new.txt']), 'cp', '-', `${ctr}:/etc`));
  const back = tarListing(berthRaw('cp', `${ctr}:/tmp`, '-'));
  assert.match(back, / tmp\/new\.txt$/m);
  assert.match(back, / tmp\/renamed$/m);
  assert.match(back, /^-rw-r--r-- 4321\/765 .* tmp\/tree\/inner\/leaf$/m);
  assert.match(tarListing(berthRaw('cp', `${ctr}:/etc/new.txt`, '-')), /new\.txt/);
}

/** Every way a symlink inside the container might lead cp to the host: both directions. */
function symlinkAttacks(t: TestContext, berth: Berth, berthIn: (input: Buffer | string, ...args: string[]) => Result, ctr: string, marker: { dir: string; untouched: () => void }): void {
  const host = scratch(t, 'cp-attack');
  writeFileSync(join(host, 'payload'), 'payload\n');
  for (const link of ['/abs', '/rel', '/chain1']) {
    // Out: the host's secret through the link, by name and by contents.
    for (const src of [`${link}/secret`, `${link}/.`, `${link}/`]) {
      const r = berth('cp', `${ctr}:${src}`, join(host, 'stolen'));
      assert.notEqual(r.status, 0, `cp ${src} read something: ${r.stdout}`);
      assert.equal(existsSync(join(host, 'stolen')), false, `cp ${src} wrote stolen`);
    }
    const followed = berth('cp', '-L', `${ctr}:${link}`, join(host, 'stolen'));
    assert.notEqual(followed.status, 0);
    assert.equal(existsSync(join(host, 'stolen')), false);
    // The link itself copies as a link (its text), never its host target.
    ok(berth('cp', `${ctr}:${link}`, join(host, `copied-${link.slice(1)}`)));
    assert.ok(lstatSync(join(host, `copied-${link.slice(1)}`)).isSymbolicLink());
    // In: into the link as a directory, and to a name under it.
    assert.notEqual(berth('cp', join(host, 'payload'), `${ctr}:${link}/`).status, 0);
    assert.notEqual(berth('cp', join(host, 'payload'), `${ctr}:${link}/planted`).status, 0);
  }
  // A tar that makes a link to the host's directory and then writes through it: lands in the container or fails.
  const evil = scratch(t, 'evil-tar');
  symlinkSync(marker.dir, join(evil, 'hop'));
  mkdirSync(join(evil, 'real'));
  writeFileSync(join(evil, 'real/planted'), 'planted\n');
  const tar = execFileSync('tar', ['-C', evil, '-cf', '-', 'hop', '--transform', 's,^real,hop,', 'real/planted']);
  assert.match(tarListing(tar), /hop\/planted/);
  berthIn(tar, 'cp', '-', `${ctr}:/tmp`);
  const climbing = execFileSync('tar', ['-C', evil, '-cf', '-', '--transform', 's,^real,../../../..,', 'real/planted']);
  const refused = berthIn(climbing, 'cp', '-', `${ctr}:/tmp`);
  assert.equal(refused.status, 125);
  assert.match(refused.stderr, /climbs out of the destination/);
  marker.untouched();
}

test('cp on a created and on an exited container, both ways; symlinks in it never reach the host; nothing stays mounted', { skip }, async (t) => {
  const { root, berth, berthIn, berthRaw, image, marker } = setup(t);
  const exited = unique('exited');
  ok(berth('run', '--name', exited, '-v', 'cpvol:/vol', image, 'sh', '-c', 'echo in-volume > /vol/x'));
  copyBothWays(t, berth, berthIn, berthRaw, exited);
  symlinkAttacks(t, berth, berthIn, exited, marker);
  // A stopped container's volume is mounted in the view: the copy reads and writes the volume.
  assert.equal(berthRaw('cp', `${exited}:/vol/x`, '-').length > 0, true);
  const hostFile = join(scratch(t, 'tovol'), 'put');
  writeFileSync(hostFile, 'put\n');
  ok(berth('cp', hostFile, `${exited}:/vol/`));
  assert.equal(readFileSync(join(root, 'volumes/cpvol/_data/put'), 'utf8'), 'put\n');
  // Copied in while stopped, seen when it runs (the container's upper dir).
  ok(berth('commit', exited, 'vols:after')); // the image keeps its layers: /tmp/new.txt is in the commit
  assert.match(ok(berth('run', '--rm', 'vols:after', 'cat', '/tmp/new.txt', '/etc/new.txt')), /^from the host\nfrom the host\n$/);

  // A container created and never started (through the engine: `berth create` is not here yet).
  const created = await new Engine(root).create({ image, name: unique('created'), rm: false, command: ['true'], env: [], hostname: '', readOnly: false, terminal: false, isolation: 'default' });
  assert.equal(created.state.status, 'created');
  copyBothWays(t, berth, berthIn, berthRaw, created.name);
  assert.deepEqual(hostMountsMentioning(root), []);
});

test('cp on a running container goes through its own root: both ways, and the symlink attacks', { skip }, async (t) => {
  const { root, berth, berthIn, berthRaw, image, marker } = setup(t);
  const name = unique('running');
  const child = spawn(process.execPath, [BERTH, 'run', '--name', name, '--tmpfs', '/run-only', image, 'sh', '-c', 'echo tmpfs-content > /run-only/f; touch /tmp/ready; until [ -e /tmp/stop ]; do sleep 0.1; done; exit 7'], { env: { ...process.env, BERTH_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('the container to run', () => berth('ps', '-q').stdout.trim() !== '' && berth('cp', `${name}:/tmp/ready`, '-').status === 0, 30_000, 100);
  // Only a running container's root has its tmpfs: proof that cp used /proc/PID/root.
  assert.match(tarListing(berthRaw('cp', `${name}:/run-only/f`, '-')), / f$/m);
  copyBothWays(t, berth, berthIn, berthRaw, name);
  symlinkAttacks(t, berth, berthIn, name, marker);
  // The container ends when a file copied in tells it to: cp wrote into the live root it reads.
  const stop = join(scratch(t, 'stop'), 'stop');
  writeFileSync(stop, '');
  ok(berth('cp', stop, `${name}:/tmp/stop`));
  assert.equal(await exited, 7);
});

test('volume create races: 8 processes creating one name all get the one volume, whole', { skip }, async (t) => {
  const { root } = berthRoot(t);
  const env = { ...process.env, BERTH_ROOT: root };
  const runs = Array.from({ length: 8 }, () => new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [BERTH, 'volume', 'create', '--label', 'race=1', 'raced'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b));
    child.on('exit', (code) => resolve({ code, out }));
  }));
  for (const r of await Promise.all(runs)) assert.deepEqual(r, { code: 0, out: 'raced\n' });
  assert.deepEqual(readdirSync(join(root, 'volumes')), ['raced']);
  assert.deepEqual(readdirSync(join(root, 'volumes/raced')).sort(), ['_data', 'volume.json']);
  assert.equal(JSON.parse(readFileSync(join(root, 'volumes/raced/volume.json'), 'utf8')).Name, 'raced');
});

test('copy-up reads the image as its layers merge (an opaque dir hides the lower files); an image VOLUME is an anonymous volume', { skip }, async (t) => {
  const { root, berth } = berthRoot(t);
  const layers = await busyboxLayers();
  await commitImage(new ImageStore(root), {
    config: { ...FIXTURE_CONFIG, Volumes: { '/opt/data': {} } },
    layers: layers.map((l) => ({ source: l.blob, diffID: l.diffID })),
    history: { created_by: 'volumes test' },
    ref: 'layered:vol',
  });
  // Layer 1 made /opt/data opaque: only its "new" is in the image, not layer 0's old-1 and old-2.
  assert.equal(ok(berth('run', '--rm', '-v', 'merged:/opt/data', 'layered:vol', 'ls', '/opt/data')), 'new\n');
  assert.deepEqual(readdirSync(join(root, 'volumes/merged/_data')), ['new']);

  const name = unique('imagevol');
  assert.equal(ok(berth('run', '--name', name, 'layered:vol', 'sh', '-c', 'ls /opt/data; echo more > /opt/data/more')), 'new\n');
  const [anon] = volumeNames(berth).filter((v) => v !== 'merged');
  assert.match(anon, /^[0-9a-f]{64}$/);
  assert.deepEqual(readdirSync(join(root, 'volumes', anon, '_data')).sort(), ['more', 'new']);
  ok(berth('rm', '-v', name));
  assert.deepEqual(volumeNames(berth), ['merged']);
});

test('cp races a container that swaps a directory for a symlink to the host: never reads or writes the host', { skip }, async (t) => {
  const { root, berth, image, marker } = setup(t);
  const name = unique('swapper');
  // /tmp/swap is, in turn, a directory with a file "secret" of the container's and a symlink to
  // the host's marker directory (which has a "secret" of its own).
  const loop = `until [ -e /tmp/stop ]; do mkdir -p /tmp/d; echo container > /tmp/d/secret; mv /tmp/d /tmp/swap; rm -rf /tmp/swap; ln -s ${marker.dir} /tmp/swap; rm /tmp/swap; done; touch /tmp/swap-done`;
  const child = spawn(process.execPath, [BERTH, 'run', '--name', name, image, 'sh', '-c', `touch /tmp/ready; ${loop}`], { env: { ...process.env, BERTH_ROOT: root }, stdio: 'ignore' });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('the container to run', () => berth('cp', `${name}:/tmp/ready`, '-').status === 0, 30_000, 100);
  const host = scratch(t, 'swap');
  writeFileSync(join(host, 'payload'), 'payload\n');
  let read = 0;
  let written = 0;
  for (let i = 0; i < 25; i++) {
    const out = berth('cp', `${name}:/tmp/swap/secret`, '-');
    if (out.status === 0) {
      read++;
      assert.doesNotMatch(out.stdout, /host secret/);
    }
    if (berth('cp', join(host, 'payload'), `${name}:/tmp/swap/`).status === 0) written++;
    if (berth('cp', '-L', `${name}:/tmp/swap`, join(host, `got-${i}`)).status === 0) {
      assert.ok(!existsSync(join(host, `got-${i}`, 'secret')) || readFileSync(join(host, `got-${i}`, 'secret'), 'utf8') === 'container\n');
    }
  }
  t.diagnostic(`copies that met the directory: ${read} read, ${written} written, of 25 each`);
  marker.untouched();
  const stop = join(host, 'stop');
  writeFileSync(stop, '');
  ok(berth('cp', stop, `${name}:/tmp/stop`));
  assert.equal(await exited, 0);
});
