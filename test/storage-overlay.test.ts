// Overlay snapshots: 100 layers mount, whiteouts and opaque dirs made by the applier are what
// overlayfs expects, and the seed's experiment (delete a file from the image inside the mount:
// a whiteout appears in upper, the layer keeps the file).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unpackLayerInto } from '../src/storage/unpack.js';
import { mountOverlay, overlayLayout, renderOverlayMount, MOUNT_DATA_MAX } from '../src/storage/overlay.js';
import { tarOf, tempDir, type LayerEntry } from './storage-helpers.js';

function chainOf(i: number): string {
  return `sha256:${createHash('sha256').update(`layer ${i}`).digest('hex')}`;
}

function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.split(' ')[1]?.startsWith(dir));
}

async function layers(store: string, contents: LayerEntry[][]): Promise<string[]> {
  const dirs: string[] = [];
  for (const [i, entries] of contents.entries()) {
    dirs.push((await unpackLayerInto(store, chainOf(i), [await tarOf(entries)])).path);
  }
  return dirs;
}

describe('overlay mounts', () => {
  test('100 layers mount (short names past one page) and the bottom layer is read', async (t) => {
    const dir = tempDir(t);
    const store = join(dir, 'storage', 'layers');
    const contents: LayerEntry[][] = [];
    for (let i = 0; i < 100; i += 1) {
      const entries: LayerEntry[] = [{ name: `layer-${i}`, type: 'file', body: `${i}` }, { name: 'top', type: 'file', body: `from ${i}` }];
      if (i === 0) entries.push({ name: 'etc', type: 'dir' }, { name: 'etc/bottom.txt', type: 'file', body: 'bottom layer\n' });
      contents.push(entries);
    }
    const lower = (await layers(store, contents)).reverse(); // top first
    for (const name of ['upper', 'work', 'merged']) mkdirSync(join(dir, name));
    const opts = { lowerDirs: lower, upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: join(dir, 'merged'), linkDir: join(dir, 'storage', 'l') };
    const absolute = `lowerdir=${lower.join(':')}`;
    assert.ok(absolute.length > MOUNT_DATA_MAX, 'absolute paths would not fit');
    const m = mountOverlay(opts);
    t.after(() => m.unmount({ detach: true }));
    assert.ok(m.mountData.length <= MOUNT_DATA_MAX);
    assert.equal(m.cwd, join(dir, 'storage', 'l'));
    assert.equal(readFileSync(join(dir, 'merged/etc/bottom.txt'), 'utf8'), 'bottom layer\n');
    assert.equal(readFileSync(join(dir, 'merged/layer-0'), 'utf8'), '0');
    assert.equal(readFileSync(join(dir, 'merged/layer-99'), 'utf8'), '99');
    assert.equal(readFileSync(join(dir, 'merged/top'), 'utf8'), 'from 99');
    assert.equal(readdirSync(join(dir, 'storage', 'l')).length, 100);
    const first = readdirSync(join(dir, 'storage', 'l'))[0]!;
    assert.ok(lower.includes(readlinkSync(join(dir, 'storage', 'l', first))));
    assert.equal(process.cwd(), process.cwd()); // unchanged by the mount
    assert.match(renderOverlayMount(opts), /^cd \S+\/storage\/l && mount -t overlay overlay -o lowerdir=[0-9a-f]{12}:[0-9a-f]{12}:.*,upperdir=\S+\/upper,workdir=\S+\/work \S+\/merged$/);
    m.unmount();
    assert.deepEqual(mountsUnder(dir), []);
  });

  test('the seed\'s experiment: deleting a lower file leaves a whiteout in upper and the layer intact', async (t) => {
    const dir = tempDir(t);
    const [layer] = await layers(join(dir, 'layers'), [[{ name: 'etc', type: 'dir' }, { name: 'etc/motd', type: 'file', body: 'hello from the image\n' }]]);
    for (const name of ['upper', 'work', 'merged']) mkdirSync(join(dir, name));
    const cwd = process.cwd();
    const m = mountOverlay({ lowerDirs: [layer!], upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: join(dir, 'merged') });
    t.after(() => m.unmount({ detach: true }));
    assert.equal(m.cwd, null, 'one layer: absolute paths');
    assert.equal(process.cwd(), cwd);
    unlinkSync(join(dir, 'merged/etc/motd'));
    writeFileSync(join(dir, 'merged/new'), 'n');
    assert.equal(existsSync(join(dir, 'merged/etc/motd')), false);
    const wh = lstatSync(join(dir, 'upper/etc/motd'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(readFileSync(join(layer!, 'etc/motd'), 'utf8'), 'hello from the image\n');
    assert.equal(readFileSync(join(dir, 'upper/new'), 'utf8'), 'n');
    assert.equal(renderOverlayMount({ lowerDirs: [layer!], upperDir: join(dir, 'upper'), workDir: join(dir, 'work'), target: join(dir, 'merged') }),
      `mount -t overlay overlay -o lowerdir=${layer},upperdir=${dir}/upper,workdir=${dir}/work ${dir}/merged`);
    m.unmount();
    assert.deepEqual(mountsUnder(dir), []);
  });

  test('whiteouts and opaque dirs made by the applier hide lower content', async (t) => {
    const dir = tempDir(t);
    const [bottom, top] = await layers(join(dir, 'layers'), [
      [
        { name: 'd', type: 'dir' },
        { name: 'd/old', type: 'file', body: 'o' },
        { name: 'gone', type: 'file', body: 'g' },
        { name: 'keep', type: 'file', body: 'k' },
      ],
      [
        { name: 'd', type: 'dir' },
        { name: 'd/.wh..wh..opq', type: 'file' },
        { name: 'd/new', type: 'file', body: 'n' },
        { name: '.wh.gone', type: 'file' },
      ],
    ]);
    mkdirSync(join(dir, 'merged'));
    // Read-only: two lowers, no upper.
    const m = mountOverlay({ lowerDirs: [top!, bottom!], target: join(dir, 'merged') });
    t.after(() => m.unmount({ detach: true }));
    assert.deepEqual(readdirSync(join(dir, 'merged')).sort(), ['d', 'keep']);
    assert.deepEqual(readdirSync(join(dir, 'merged/d')), ['new']);
    m.unmount();
  });

  test('a long list without a link dir is refused before any mount', () => {
    const lower = Array.from({ length: 100 }, (_, i) => `/var/lib/berth/storage/layers/${createHash('sha256').update(String(i)).digest('hex')}`);
    assert.throws(() => overlayLayout({ lowerDirs: lower, upperDir: '/u', workDir: '/w', target: '/m' }), /over one page; give a linkDir/);
    assert.throws(() => overlayLayout({ lowerDirs: ['/a,b'], upperDir: '/u', workDir: '/w', target: '/m' }), /holds a ','/);
  });
});
