// The image commands of the README that move whole images or filesystems, through berth's CLI as a
// person types them: the README's first command (a rootfs tar piped into `berth import -`),
// `berth export` of a container (to stdout and with -o), `berth rmi` of an image in use, and
// `berth push` to a registry and back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { BERTH, berthRoot, ok, PROJECT } from './helpers/berth-cli.js';
import { registryAvailable, startRegistry } from './helpers/registry.js';
import { unique } from './helpers/run.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !registryAvailable() ? 'docker-registry not installed (scripts/setup.sh installs it)' : false;

/** The names in a tar archive, as GNU tar lists them, without a leading `./`. */
function tarNames(archive: Buffer): string[] {
  return execFileSync('tar', ['-t'], { input: archive, maxBuffer: 64 << 20, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((n) => n.replace(/^\.\//, ''));
}

test('the README\'s first command (tar | berth import -), then export of a container (stdout and -o), push to a registry and a pull of it elsewhere', { skip }, async (t) => {
  const { root, env, berth, berthRaw } = berthRoot(t, 'images');
  const dir = mkdtempSync('/tmp/berth-test-images-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // As the README has it: a pipe into `berth import -`.
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  const imported = spawnSync('sh', ['-c', 'tar -C "$1/rootfs" -c . | "$2" "$3" import - busybox:demo', 'sh', join(dir, 'bundle'), process.execPath, BERTH], { env, encoding: 'utf8' });
  assert.equal(imported.status, 0, imported.stderr);
  const imageId = imported.stdout.trim();
  assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
  assert.equal(ok(berth('run', '--rm', '--network', 'none', 'busybox:demo', 'sh', '-c', 'echo "hello from $(hostname)"')).startsWith('hello from '), true);

  // export: the container's whole filesystem, its changes applied (no whiteouts in it).
  const name = unique('export');
  ok(berth('run', '--name', name, '--network', 'none', 'busybox:demo', 'sh', '-c', 'echo made > /made-here; rm /bin/true'));
  const toStdout = berthRaw('export', name);
  ok(berth('export', '-o', join(dir, 'export.tar'), name));
  assert.deepEqual(readFileSync(join(dir, 'export.tar')), toStdout, 'export -o and export to stdout differ');
  const names = tarNames(toStdout);
  assert.ok(names.includes('made-here') && names.includes('bin/busybox'), names.join('\n'));
  assert.ok(!names.includes('bin/true'), 'a deleted file is exported');
  assert.deepEqual(names.filter((n) => n.includes('.wh.')), [], 'whiteouts in the export');
  assert.equal(execFileSync('tar', ['-xO', '--wildcards', '*made-here'], { input: toStdout, encoding: 'utf8' }), 'made\n');

  // rmi as docker's: one of an image's names goes alone, even while a container uses the image;
  // the image itself stays while a container uses it (exit 1, as docker's rmi, one line naming the container).
  ok(berth('tag', 'busybox:demo', 'busybox:other'));
  assert.equal(ok(berth('rmi', 'busybox:other')), 'Untagged: busybox:other\n');
  const inUse = berth('rmi', 'busybox:demo');
  assert.equal(inUse.status, 1, inUse.stderr);
  assert.equal(inUse.stderr, `berth: unable to remove image busybox:demo: container ${name} uses it (remove the container first)\n`);

  // push to a registry, then pull it into another root: the same image, which runs.
  const registry = await startRegistry(t);
  const ref = `${registry.host}/demo/busybox:1`;
  const pushed = ok(berth('push', 'busybox:demo', ref));
  assert.match(pushed, new RegExp(`^The push refers to repository \\[${registry.host}/demo/busybox\\]$`, 'm'));
  assert.match(pushed, /^1: digest: sha256:[0-9a-f]{64} size: \d+$/m);
  const other = berthRoot(t, 'images-pull');
  ok(other.berth('pull', '-q', ref));
  assert.equal(JSON.parse(ok(other.berth('image', 'inspect', ref)))[0].Id, imageId);
  assert.equal(ok(other.berth('run', '--rm', '--network', 'none', ref, 'cat', '/etc/hostname')).length > 0, true);
  assert.ok(root !== other.root);
});
