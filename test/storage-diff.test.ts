// diff and commit: changes made through a real overlay mount are listed as docker diff lists
// them, and the layer written from the upper dir, stacked on the same layers, shows the same tree.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, linkSync, mkdirSync, readFileSync, rmSync, unlinkSync, appendFileSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readTar, TarWriter } from '../src/tar/index.js';
import { writeDirectoryTar } from '../src/storage/archive.js';
import { diffUpper, LowerView, writeLayerFromUpper } from '../src/storage/diff.js';
import { mountOverlay } from '../src/storage/overlay.js';
import { applyLayer, unpackLayerInto } from '../src/storage/unpack.js';
import { describeTree, tarOf, tempDir } from './storage-helpers.js';

const chain = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

async function image(dir: string): Promise<string[]> {
  const store = join(dir, 'layers');
  const bottom = await unpackLayerInto(store, chain('bottom'), [
    await tarOf([
      { name: 'etc', type: 'dir' },
      { name: 'etc/passwd', type: 'file', body: 'root:x:0:0::/root:/bin/sh\n' },
      { name: 'etc/hosts', type: 'file', body: '127.0.0.1 localhost\n' },
      { name: 'etc/motd', type: 'file', body: 'hi\n' },
      { name: 'var', type: 'dir' },
      { name: 'var/lib', type: 'dir' },
      { name: 'var/lib/data', type: 'dir' },
      { name: 'var/lib/data/a', type: 'file', body: 'a' },
      { name: 'var/lib/data/b', type: 'file', body: 'b' },
      { name: 'usr', type: 'dir' },
      { name: 'usr/bin', type: 'dir' },
      { name: 'usr/bin/tool', type: 'file', body: '#!/bin/sh\n', mode: 0o755 },
      { name: 'old', type: 'file', body: 'old' },
    ]),
  ]);
  const top = await unpackLayerInto(store, chain('top'), [
    await tarOf([
      { name: 'etc', type: 'dir' },
      { name: 'etc/extra', type: 'file', body: 'x' },
      { name: '.wh.old', type: 'file' },
    ]),
  ]);
  return [top.path, bottom.path];
}

describe('diff and commit', () => {
  test('changes made through the mount, listed and committed', async (t) => {
    const dir = tempDir(t);
    const lowers = await image(dir);
    for (const name of ['upper', 'work', 'merged', 'committed']) mkdirSync(join(dir, name));
    const m = mountOverlay({ lowerDirs: lowers, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: join(dir, 'merged') });
    t.after(() => m.unmount({ detach: true }));
    const merged = (p: string) => join(dir, 'merged', p);
    unlinkSync(merged('etc/motd'));
    appendFileSync(merged('etc/hosts'), '10.0.0.1 box\n');
    mkdirSync(merged('new'));
    writeFileSync(merged('new/file'), 'new file\n');
    linkSync(merged('new/file'), merged('new/hard'));
    symlinkSync('/etc/passwd', merged('new/link'));
    rmSync(merged('var/lib/data'), { recursive: true });
    mkdirSync(merged('var/lib/data'));
    writeFileSync(merged('var/lib/data/c'), 'c');
    chmodSync(merged('usr/bin/tool'), 0o700);
    writeFileSync(merged('old'), 'was whited out below, now back');
    writeFileSync(merged('etc/extra'), 'changed in a middle layer file');

    assert.deepEqual(
      diffUpper(join(dir, 'upper'), lowers).map((c) => `${c.kind} ${c.path}`),
      [
        'C /etc',
        'C /etc/extra',
        'C /etc/hosts',
        'D /etc/motd',
        'A /new',
        'A /new/file',
        'A /new/hard',
        'A /new/link',
        'A /old',
        'C /usr',
        'C /usr/bin',
        'C /usr/bin/tool',
        'C /var',
        'C /var/lib',
        'C /var/lib/data',
        'D /var/lib/data/a',
        'D /var/lib/data/b',
        'A /var/lib/data/c',
      ],
    );

    const layerFile = join(dir, 'commit.tar');
    const { diffID, bytes } = await writeLayerFromUpper(join(dir, 'upper'), lowers, new TarWriter(createWriteStream(layerFile)));
    const tar = readFileSync(layerFile);
    assert.equal(bytes, tar.length);
    assert.equal(diffID, `sha256:${createHash('sha256').update(tar).digest('hex')}`);
    const names: string[] = [];
    for await (const e of readTar([tar])) names.push(`${e.header.type} ${e.header.name}${e.header.linkname ? ` -> ${e.header.linkname}` : ''}`);
    assert.ok(names.includes('file etc/.wh.motd'), names.join('\n'));
    assert.ok(names.includes('file var/lib/data/.wh..wh..opq'), names.join('\n'));
    assert.ok(names.includes('hardlink new/hard -> new/file'), names.join('\n'));
    assert.ok(!names.some((n) => n.includes('trusted.overlay')));
    // The same upper dir gives the same layer.
    const again = await writeLayerFromUpper(join(dir, 'upper'), lowers, new TarWriter(createWriteStream(join(dir, 'again.tar'))));
    assert.equal(again.diffID, diffID);

    // Stacked on the same layers, the committed layer shows what the container showed.
    const committedLayer = join(dir, 'layers', 'committed');
    mkdirSync(committedLayer);
    assert.equal((await applyLayer([tar], committedLayer)).diffID, diffID);
    const c = mountOverlay({ lowerDirs: [committedLayer, ...lowers], target: join(dir, 'committed') });
    t.after(() => c.unmount({ detach: true }));
    assert.deepEqual(describeTree(join(dir, 'committed'), { times: false, skipRoot: true }), describeTree(join(dir, 'merged'), { times: false, skipRoot: true }));
    c.unmount();

    // export: the merged rootfs as one flat tar, which unpacks to the same tree.
    const exported = join(dir, 'export.tar');
    const ex = await writeDirectoryTar(join(dir, 'merged'), new TarWriter(createWriteStream(exported)));
    const flat = join(dir, 'flat');
    mkdirSync(flat);
    assert.equal((await applyLayer(createReadStream(exported), flat)).diffID, ex.digest);
    assert.deepEqual(describeTree(flat, { times: false, skipRoot: true }), describeTree(join(dir, 'merged'), { times: false, skipRoot: true }));
    m.unmount();
  });

  test('the lower view: a whiteout or an opaque dir in a middle layer hides the layers below', async (t) => {
    const dir = tempDir(t);
    const store = join(dir, 'layers');
    const layer = async (name: string, entries: Parameters<typeof tarOf>[0]) => (await unpackLayerInto(store, chain(name), [await tarOf(entries)])).path;
    const bottom = await layer('b', [
      { name: 'd', type: 'dir' },
      { name: 'd/a', type: 'file' },
      { name: 'o', type: 'dir' },
      { name: 'o/old', type: 'file' },
    ]);
    const mid = await layer('m', [{ name: '.wh.d', type: 'file' }, { name: 'o', type: 'dir' }, { name: 'o/.wh..wh..opq', type: 'file' }, { name: 'o/mid', type: 'file' }]);
    const top = await layer('t', [{ name: 'd', type: 'dir' }, { name: 'd/new', type: 'file' }, { name: 'o', type: 'dir' }, { name: 'o/top', type: 'file' }]);
    const view = new LowerView([top, mid, bottom]);
    assert.deepEqual(view.list('d'), ['new']);
    assert.equal(view.stat('d/a'), null);
    assert.ok(view.stat('d/new'));
    assert.deepEqual(view.list('o'), ['mid', 'top']);
    assert.equal(view.stat('o/old'), null);
  });
});
