// The layer applier: the same tree as GNU tar makes, whiteouts in overlay form, entries replaced
// in order, and containerd's breakout cases, each with a marker outside that must stay as it was
// and no partial layer left in the store.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { applyLayer, LayerError, unpackLayerInto } from '../src/storage/unpack.js';
import { getXattr } from '../src/storage/xattr.js';
import { describeTree, fingerprint, tarOf, tempDir, type LayerEntry } from './storage-helpers.js';

const CHAIN = `sha256:${'ab'.repeat(32)}`;

function sha256(buf: Buffer): string {
  return `sha256:${createHash('sha256').update(buf).digest('hex')}`;
}

describe('applyLayer makes what GNU tar makes', () => {
  test('files, dirs, symlinks, hardlinks, devices, fifos, owners, modes, times, xattrs', async (t) => {
    const dir = tempDir(t);
    const src = join(dir, 'src');
    mkdirSync(join(src, 'a/b/c'), { recursive: true });
    writeFileSync(join(src, 'a/b/c/file'), 'deep\n');
    writeFileSync(join(src, 'big'), Buffer.alloc(3_000_000, 7));
    writeFileSync(join(src, 'setuid'), 'x', { mode: 0o755 });
    chmodSync(join(src, 'setuid'), 0o4755);
    writeFileSync(join(src, 'setgid'), 'x');
    chmodSync(join(src, 'setgid'), 0o2711);
    mkdirSync(join(src, 'tmp'));
    chmodSync(join(src, 'tmp'), 0o1777);
    mkdirSync(join(src, 'private'), { mode: 0o700 });
    writeFileSync(join(src, 'private/secret'), 's', { mode: 0o600 });
    execFileSync('chown', ['-h', '1000:2000', join(src, 'private'), join(src, 'private/secret')]);
    symlinkSync('a/b/c/file', join(src, 'rel-link'));
    symlinkSync('/etc/passwd', join(src, 'abs-link'));
    execFileSync('chown', ['-h', '33:33', join(src, 'abs-link')]);
    linkSync(join(src, 'big'), join(src, 'big-hard'));
    execFileSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    execFileSync('mknod', [join(src, 'sda'), 'b', '8', '0']);
    execFileSync('mkfifo', [join(src, 'fifo')]);
    chmodSync(join(src, 'fifo'), 0o620);
    // setfattr (attr) and setcap (libcap2-bin) come with scripts/setup.sh.
    execFileSync('setfattr', ['-n', 'user.comment', '-v', 'hello', join(src, 'a/b/c/file')]);
    execFileSync('setfattr', ['-n', 'trusted.t', '-v', '0x01020300', join(src, 'a')]);
    // file capabilities: cap_net_bind_service+ep, set after chown by the applier
    execFileSync('setcap', ['cap_net_bind_service+ep', join(src, 'setgid')]);
    const tgz = join(dir, 'layer.tgz');
    execFileSync('tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-czf', tgz, '-C', src, '.']);
    const byTar = join(dir, 'by-tar');
    mkdirSync(byTar);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xzf', tgz, '-C', byTar]);
    const byBerth = join(dir, 'by-berth');
    mkdirSync(byBerth);
    const result = await applyLayer(createReadStream(tgz), byBerth);
    assert.deepEqual(describeTree(byBerth, { skipRoot: true }), describeTree(byTar, { skipRoot: true }));
    // The same tree, and the xattrs in it: not lost on both sides alike.
    assert.equal(execFileSync('getcap', [join(byBerth, 'setgid')], { encoding: 'utf8' }).trim(), `${join(byBerth, 'setgid')} cap_net_bind_service=ep`);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.comment', join(byBerth, 'a/b/c/file')], { encoding: 'utf8' }), 'hello');
    const plain = execFileSync('gzip', ['-dc', tgz], { maxBuffer: 64 << 20 });
    assert.equal(result.diffID, sha256(plain));
    assert.equal(result.bytes, plain.length);
    assert.ok(result.files >= 15);
  });

  test('an uncompressed layer, its diffID checked when one is expected', async (t) => {
    const dir = tempDir(t);
    const tar = await tarOf([{ name: 'f', type: 'file', body: 'x' }]);
    mkdirSync(join(dir, 'a'));
    assert.equal((await applyLayer([tar], join(dir, 'a'), { expectedDiffID: sha256(tar) })).diffID, sha256(tar));
    mkdirSync(join(dir, 'b'));
    await assert.rejects(applyLayer([tar], join(dir, 'b'), { digest: 'sha256:feed', expectedDiffID: `sha256:${'0'.repeat(64)}` }), /^LayerError: layer sha256:feed: uncompressed digest sha256:[0-9a-f]{64} does not match the expected diffID/);
  });
});

describe('whiteouts become overlay whiteouts', () => {
  test('.wh.NAME is a char device 0/0 and .wh..wh..opq an opaque dir; no .wh. file is made', async (t) => {
    const dir = tempDir(t);
    const tar = await tarOf([
      { name: 'etc', type: 'dir' },
      { name: 'etc/.wh.passwd', type: 'file', uid: 0 },
      { name: 'opaque', type: 'dir', mode: 0o750 },
      { name: 'opaque/.wh..wh..opq', type: 'file' },
      { name: 'opaque/kept', type: 'file', body: 'k' },
      { name: 'missing-parent/.wh.gone', type: 'file' },
      { name: '.wh.top', type: 'file' },
      { name: 'x/.wh..wh.plnk', type: 'file' },
    ]);
    const root = join(dir, 'root');
    mkdirSync(root);
    await applyLayer([tar], root);
    for (const p of ['etc/passwd', 'missing-parent/gone', 'top']) {
      const st = lstatSync(join(root, p));
      assert.ok(st.isCharacterDevice(), p);
      assert.equal(st.rdev, 0, p);
    }
    assert.deepEqual(getXattr(join(root, 'opaque'), 'trusted.overlay.opaque'), Buffer.from('y'));
    assert.equal(readFileSync(join(root, 'opaque/kept'), 'utf8'), 'k');
    assert.equal(lstatSync(join(root, 'opaque')).mode & 0o7777, 0o750);
    const all = execFileSync('find', [root]).toString();
    assert.doesNotMatch(all, /\.wh\./);
  });

  test('a forged trusted.overlay.* xattr in a layer is dropped; other xattrs are kept', async (t) => {
    const dir = tempDir(t);
    const tar = await tarOf([
      { name: 'd', type: 'dir', xattrs: { 'trusted.overlay.opaque': Buffer.from('y'), 'trusted.keep': Buffer.from('1'), 'security.selinux': Buffer.from('x') } },
    ]);
    const root = join(dir, 'root');
    mkdirSync(root);
    await applyLayer([tar], root);
    assert.equal(getXattr(join(root, 'd'), 'trusted.overlay.opaque'), null);
    assert.deepEqual(getXattr(join(root, 'd'), 'trusted.keep'), Buffer.from('1'));
  });
});

describe('later entries replace earlier ones', () => {
  test('file over dir, dir over file, file over symlink, symlink over dir, dir met twice', async (t) => {
    const dir = tempDir(t);
    const tar = await tarOf([
      { name: 'a', type: 'dir' },
      { name: 'a/inner', type: 'file', body: 'i' },
      { name: 'a', type: 'file', body: 'now a file' },
      { name: 'b', type: 'file', body: 'was a file' },
      { name: 'b', type: 'dir', mode: 0o700 },
      { name: 'b/x', type: 'file', body: 'x' },
      { name: 'c', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'c', type: 'file', body: 'not through the link' },
      { name: 'd', type: 'dir' },
      { name: 'd/y', type: 'file' },
      { name: 'd', type: 'symlink', linkname: 'b' },
      { name: 'e', type: 'dir', mode: 0o755 },
      { name: 'e/z', type: 'file', body: 'z' },
      { name: 'e', type: 'dir', mode: 0o711, mtime: 1_500_000_000 },
    ]);
    const root = join(dir, 'root');
    mkdirSync(root);
    await applyLayer([tar], root);
    assert.equal(readFileSync(join(root, 'a'), 'utf8'), 'now a file');
    assert.ok(lstatSync(join(root, 'b')).isDirectory());
    assert.equal(lstatSync(join(root, 'b')).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(root, 'c'), 'utf8'), 'not through the link');
    assert.notEqual(readFileSync('/etc/passwd', 'utf8'), 'not through the link');
    assert.equal(readlinkSync(join(root, 'd')), 'b');
    assert.equal(readFileSync(join(root, 'e/z'), 'utf8'), 'z');
    assert.equal(lstatSync(join(root, 'e')).mode & 0o777, 0o711);
    assert.equal(lstatSync(join(root, 'e')).mtimeMs, 1_500_000_000_000);
  });
});

// ---- breakouts ----

interface Breakout {
  name: string;
  /** Entries; OUT in a name or link target is replaced by the absolute path of the outside dir. */
  entries: LayerEntry[];
  /** The error expected, or null when the layer applies with everything kept inside. */
  refused: RegExp | null;
  /** For contained cases: what must hold inside the layer. */
  inside?: (root: string) => void;
}

const breakouts: Breakout[] = [
  { name: 'dot dot', entries: [{ name: '../../../outside/marker', type: 'file', body: 'pwned' }], refused: /entry "\.\.\/\.\.\/\.\.\/outside\/marker": path escapes the layer$/ },
  { name: 'dot dot after a dir', entries: [{ name: 'a', type: 'dir' }, { name: 'a/../../x', type: 'file', body: 'pwned' }], refused: /entry "a\/\.\.\/\.\.\/x": path escapes the layer/ },
  { name: 'absolute dot dot', entries: [{ name: '/../../../outside/marker', type: 'file', body: 'pwned' }], refused: /path escapes the layer/ },
  { name: 'dot dot directory', entries: [{ name: '../../../outside/newdir', type: 'dir' }], refused: /path escapes the layer/ },
  { name: 'dot dot symlink entry', entries: [{ name: '../../../outside/link', type: 'symlink', linkname: '/etc/shadow' }], refused: /path escapes the layer/ },
  {
    name: 'dot dot in a later entry leaves no partial layer',
    entries: [{ name: 'ok', type: 'file', body: 'fine' }, { name: 'dir', type: 'dir' }, { name: '../escape', type: 'file', body: 'pwned' }],
    refused: /entry "\.\.\/escape": path escapes the layer/,
  },
  { name: 'hardlink to outside', entries: [{ name: 'h', type: 'hardlink', linkname: '../../../outside/marker' }], refused: /entry "h": hardlink target "\.\.\/\.\.\/\.\.\/outside\/marker" escapes the layer/ },
  { name: 'hardlink absolute to outside', entries: [{ name: 'h', type: 'hardlink', linkname: '/../../../outside/marker' }], refused: /hardlink target .* escapes the layer/ },
  {
    name: 'hardlink through a symlinked parent',
    entries: [{ name: 'd', type: 'symlink', linkname: 'OUT' }, { name: 'h', type: 'hardlink', linkname: 'd/marker' }],
    refused: /entry "h": hardlink target through the symlinked parent "d"/,
  },
  {
    name: 'hardlink through a relative symlinked parent',
    entries: [{ name: 'sub', type: 'dir' }, { name: 'sub/d', type: 'symlink', linkname: '../../../../outside' }, { name: 'h', type: 'hardlink', linkname: 'sub/d/marker' }],
    refused: /hardlink target through the symlinked parent "sub\/d"/,
  },
  { name: 'whiteout of dot dot', entries: [{ name: '.wh...', type: 'file' }], refused: /entry "\.wh\.\.\.": invalid whiteout name/ },
  { name: 'whiteout of dot', entries: [{ name: 'etc/.wh..', type: 'file' }], refused: /invalid whiteout name/ },
  { name: 'whiteout escaping by dot dot', entries: [{ name: '../../../outside/.wh.marker', type: 'file' }], refused: /path escapes the layer/ },
  {
    name: 'whiteout through symlinked parent',
    entries: [{ name: 'localetc', type: 'symlink', linkname: 'OUT' }, { name: 'localetc/.wh.marker', type: 'file' }],
    refused: /entry "localetc\/\.wh\.marker": whiteout through the symlinked parent "localetc"/,
  },
  {
    name: 'whiteout through relative symlinked parent',
    entries: [{ name: 'localetc', type: 'symlink', linkname: '../../../outside' }, { name: 'localetc/.wh.marker', type: 'file' }],
    refused: /whiteout through the symlinked parent/,
  },
  {
    name: 'opaque dir through symlinked parent',
    entries: [{ name: 'up', type: 'symlink', linkname: 'OUT' }, { name: 'up/.wh..wh..opq', type: 'file' }],
    refused: /opaque whiteout through the symlinked parent "up"/,
  },
  {
    name: 'symlink loop as parent',
    entries: [{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', type: 'file' }],
    refused: /entry "a\/x": too many symlinks/,
  },
  { name: 'file under a file', entries: [{ name: 'f', type: 'file' }, { name: 'f/x', type: 'file' }], refused: /entry "f\/x": parent "f" is not a directory/ },
  // Contained: containerd resolves a symlinked parent inside the root; the write lands inside.
  {
    name: 'symlink to outside then write through',
    entries: [{ name: 'd', type: 'symlink', linkname: '../../../outside' }, { name: 'd/marker', type: 'file', body: 'inside' }],
    refused: null,
    inside: (root) => assert.equal(readFileSync(join(root, 'outside/marker'), 'utf8'), 'inside'),
  },
  {
    name: 'absolute symlink escape',
    entries: [{ name: 'd', type: 'symlink', linkname: 'OUT' }, { name: 'd/marker', type: 'file', body: 'inside' }],
    refused: null,
    inside: (root) => assert.ok(existsSync(join(root, OUTSIDE_PLACEHOLDER_IN_ROOT(root), 'marker'))),
  },
  {
    name: 'dot dot in symlink target followed by file',
    entries: [{ name: 'dummy', type: 'dir' }, { name: 'd', type: 'symlink', linkname: 'dummy/../../../../outside' }, { name: 'd/marker', type: 'file', body: 'inside' }],
    refused: null,
    inside: (root) => assert.equal(readFileSync(join(root, 'outside/marker'), 'utf8'), 'inside'),
  },
  {
    name: 'symlink chain to outside (SymlinkMultipleAbsolute)',
    entries: [
      { name: 'dummy', type: 'dir' },
      { name: 'dummy/etc', type: 'symlink', linkname: 'OUT' },
      { name: 'localetc', type: 'symlink', linkname: '/dummy/etc' },
      { name: 'localetc/marker', type: 'file', body: 'inside' },
    ],
    refused: null,
  },
  {
    name: 'symlink replaced by the file of the same name (not written through)',
    entries: [{ name: 'marker', type: 'symlink', linkname: 'OUT/marker' }, { name: 'marker', type: 'file', body: 'inside', mode: 0o600 }],
    refused: null,
    inside: (root) => assert.equal(readFileSync(join(root, 'marker'), 'utf8'), 'inside'),
  },
  {
    name: 'symlink to outside with owner, time and xattrs (never followed)',
    entries: [{ name: 's', type: 'symlink', linkname: 'OUT/marker', uid: 1234, gid: 1234, mtime: 1000, xattrs: { 'trusted.x': Buffer.from('1') } }],
    refused: null,
    inside: (root) => assert.equal(lstatSync(join(root, 's')).uid, 1234),
  },
  {
    name: 'hardlink to a symlink to outside, with metadata (HardlinkSymlinkChmod)',
    entries: [{ name: 'ep', type: 'symlink', linkname: 'OUT/marker' }, { name: 'sketchylink', type: 'hardlink', linkname: 'ep', mode: 0o777, uid: 1, gid: 1 }],
    refused: null,
    inside: (root) => assert.ok(lstatSync(join(root, 'sketchylink')).isSymbolicLink()),
  },
  {
    name: 'directory over a symlink to outside, with its mode',
    entries: [{ name: 'd', type: 'symlink', linkname: 'OUT' }, { name: 'd', type: 'dir', mode: 0o700 }, { name: 'd/marker', type: 'file', body: 'inside' }],
    refused: null,
    inside: (root) => assert.ok(lstatSync(join(root, 'd')).isDirectory()),
  },
  {
    name: 'device over a symlink to outside',
    entries: [{ name: 'n', type: 'symlink', linkname: 'OUT/marker' }, { name: 'n', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }],
    refused: null,
    inside: (root) => assert.ok(lstatSync(join(root, 'n')).isCharacterDevice()),
  },
  {
    name: 'whiteout over a symlink to outside replaces the link',
    entries: [{ name: 'w', type: 'symlink', linkname: 'OUT/marker' }, { name: '.wh.w', type: 'file' }],
    refused: null,
    inside: (root) => assert.ok(lstatSync(join(root, 'w')).isCharacterDevice()),
  },
  {
    name: 'hardlink inside through a clean path (HardlinkDirectAbsolute)',
    entries: [{ name: 'etc', type: 'dir' }, { name: 'etc/passwd', type: 'file', body: 'inside' }, { name: 'localpasswd', type: 'hardlink', linkname: '/etc/passwd' }],
    refused: null,
    inside: (root) => assert.equal(statSync(join(root, 'localpasswd')).ino, statSync(join(root, 'etc/passwd')).ino),
  },
];

/** Where an absolute symlink to the outside dir lands inside the root. */
function OUTSIDE_PLACEHOLDER_IN_ROOT(_root: string): string {
  return currentOutside.replace(/^\//, '');
}
let currentOutside = '';

describe('breakouts (containerd TestBreakouts and the issue\'s cases)', () => {
  for (const bo of breakouts) {
    test(bo.name, async (t) => {
      const dir = tempDir(t, 'berth-breakout-');
      const outside = join(dir, 'outside');
      mkdirSync(outside);
      const marker = join(outside, 'marker');
      writeFileSync(marker, 'marker', { mode: 0o400 });
      utimesSync(marker, 1_000_000, 1_000_000);
      utimesSync(outside, 1_000_000, 1_000_000);
      currentOutside = outside;
      const store = join(dir, 'store', 'layers');
      mkdirSync(store, { recursive: true });
      const before = { marker: fingerprint(marker), outside: fingerprint(outside), list: readdirSync(dir).sort(), outsideList: readdirSync(outside) };
      const entries = bo.entries.map((e) => ({ ...e, name: e.name.replace('OUT', outside), linkname: e.linkname?.replace('OUT', outside) }));
      const tar = await tarOf(entries);
      for (const form of ['plain', 'gzip'] as const) {
        const input = form === 'gzip' ? gzipSync(tar) : tar;
        const attempt = unpackLayerInto(store, CHAIN, [input], { digest: 'sha256:0123' });
        if (bo.refused) {
          await assert.rejects(attempt, (err: unknown) => {
            assert.ok(err instanceof LayerError, String(err));
            assert.match(err.message, /^layer sha256:0123: /);
            assert.match(err.message, bo.refused!);
            assert.doesNotMatch(err.message, /\n/);
            return true;
          });
          assert.deepEqual(readdirSync(store), [], 'no partial layer left in the store');
        } else {
          const r = await attempt;
          assert.equal(r.diffID, sha256(tar));
          bo.inside?.(r.path);
          execFileSync('rm', ['-rf', r.path]);
        }
        assert.equal(fingerprint(marker), before.marker, 'the marker outside is untouched');
        assert.equal(fingerprint(outside), before.outside, 'the outside dir is untouched');
        assert.deepEqual(readdirSync(outside), before.outsideList);
        assert.deepEqual(readdirSync(dir).sort(), before.list, 'nothing new beside the store');
      }
    });
  }
});

describe('damaged layers leave nothing behind', () => {
  test('truncated, corrupted, bad checksum', async (t) => {
    const dir = tempDir(t);
    const store = join(dir, 'layers');
    const tar = await tarOf([
      { name: 'a', type: 'dir' },
      { name: 'a/big', type: 'file', body: Buffer.alloc(100_000, 1) },
      { name: 'a/small', type: 'file', body: 'x' },
    ]);
    const gz = gzipSync(tar);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['truncated tar', tar.subarray(0, 50_000), /^layer sha256:0123: tar: truncated archive: input ends in the body of an entry, \d+ bytes short \(at offset 50000\)$/],
      ['truncated gzip', gz.subarray(0, gz.length - 100), /^layer sha256:0123: gzip: unexpected end of file$/],
      ['corrupted gzip', Buffer.concat([gz.subarray(0, 40), Buffer.alloc(50, 0xff), gz.subarray(90)]), /^layer sha256:0123: gzip: invalid .*$/],
      ['bad checksum', Buffer.concat([tar.subarray(0, 101_386), Buffer.from('X'), tar.subarray(101_387)]), /checksum mismatch \(at offset \d+\)/],
    ];
    for (const [what, input, pattern] of cases) {
      await assert.rejects(unpackLayerInto(store, CHAIN, [input], { digest: 'sha256:0123' }), (err: unknown) => {
        assert.ok(err instanceof LayerError, `${what}: ${String(err)}`);
        assert.match(err.message, pattern, what);
        return true;
      });
      assert.deepEqual(readdirSync(store), [], what);
    }
    const ok = await unpackLayerInto(store, CHAIN, [gz]);
    assert.equal(ok.unpacked, true);
    assert.deepEqual(readdirSync(store), ['ab'.repeat(32)]);
    assert.equal(ok.diffID, sha256(tar));
    const again = await unpackLayerInto(store, CHAIN, [gz]);
    assert.equal(again.unpacked, false);
    await assert.rejects(unpackLayerInto(store, '../evil', [gz]), /invalid chain id/);
  });
});
