// berth's tar against GNU tar: archives GNU tar writes (pax, gnu, gzip) read back exactly;
// archives berth writes extract with GNU tar; damaged and cut archives are refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  decompressedStream,
  indexTar,
  openTarMember,
  readTar,
  readTarMembers,
  TarError,
  TarWriter,
  type TarHeader,
} from '../src/tar/index.js';
import { uncompressedWithDigest } from '../src/tar/offload.js';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-tar-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const LONG_DIR = `${'d'.repeat(90)}/${'e'.repeat(90)}/${'f'.repeat(90)}`;
const LONG_FILE = `${LONG_DIR}/${'n'.repeat(120)}.txt`;
const LONG_TARGET = `${'t'.repeat(150)}/target`;

/** A tree with every kind of entry a layer can hold. */
function makeTree(root: string): void {
  mkdirSync(join(root, LONG_DIR), { recursive: true });
  writeFileSync(join(root, LONG_FILE), 'long name\n');
  writeFileSync(join(root, 'small.txt'), 'hello\n');
  writeFileSync(join(root, 'empty'), '');
  writeFileSync(join(root, 'big.bin'), randomBytes(1_000_003));
  writeFileSync(join(root, 'héllo-ünïcode'), 'utf8\n');
  writeFileSync(join(root, 'setuid'), '#!/bin/sh\n', { mode: 0o755 });
  execFileSync('chmod', ['4755', join(root, 'setuid')]);
  mkdirSync(join(root, 'sticky'));
  execFileSync('chmod', ['1777', join(root, 'sticky')]);
  symlinkSync('small.txt', join(root, 'link'));
  symlinkSync(LONG_TARGET, join(root, 'longlink'));
  linkSync(join(root, 'small.txt'), join(root, 'hard'));
  execFileSync('mknod', [join(root, 'null'), 'c', '1', '3']);
  execFileSync('mknod', [join(root, 'loop'), 'b', '7', '200']);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  execFileSync('chown', ['1234:5678', join(root, 'small.txt')]);
  // setfattr (attr) comes with scripts/setup.sh.
  execFileSync('setfattr', ['-n', 'user.x', '-v', 'y', join(root, 'small.txt')]);
  execFileSync('setfattr', ['-n', 'trusted.t', '-v', '0x00ff01', join(root, 'empty')]);
}

interface Read {
  header: TarHeader;
  body: Buffer;
}

async function readAll(source: AsyncIterable<Buffer>): Promise<Map<string, Read>> {
  const out = new Map<string, Read>();
  for await (const entry of readTar(source)) {
    out.set(entry.header.name.replace(/^\.\//, '').replace(/\/$/, ''), { header: entry.header, body: await entry.buffer() });
  }
  return out;
}

/** Every entry matches the file it came from. */
function checkAgainstTree(entries: Map<string, Read>, root: string, opts: { xattrs: boolean }): void {
  const get = (name: string): Read => {
    const e = entries.get(name);
    assert.ok(e, `entry ${name} missing; have ${[...entries.keys()].map((k) => k.slice(0, 40)).join(', ')}`);
    return e;
  };
  assert.equal(get(LONG_FILE).body.toString(), 'long name\n');
  assert.equal(get(LONG_DIR).header.type, 'dir');
  const small = get('small.txt');
  const hard = get('hard');
  // GNU tar stores the first one met as the file, the other as the hardlink.
  const [file, link] = small.header.type === 'file' ? [small, hard] : [hard, small];
  assert.equal(file.body.toString(), 'hello\n');
  assert.equal(link.header.type, 'hardlink');
  assert.equal(small.header.uid, 1234);
  assert.equal(small.header.gid, 5678);
  assert.deepEqual(get('big.bin').body, readFileSync(join(root, 'big.bin')));
  assert.equal(get('big.bin').header.size, 1_000_003);
  assert.equal(get('empty').header.size, 0);
  assert.equal(get('héllo-ünïcode').body.toString(), 'utf8\n');
  assert.equal(get('setuid').header.mode, 0o4755);
  assert.equal(get('sticky').header.mode, 0o1777);
  assert.equal(get('link').header.type, 'symlink');
  assert.equal(get('link').header.linkname, 'small.txt');
  assert.equal(get('longlink').header.linkname, LONG_TARGET);
  assert.deepEqual([get('null').header.type, get('null').header.devmajor, get('null').header.devminor], ['char', 1, 3]);
  assert.deepEqual([get('loop').header.type, get('loop').header.devmajor, get('loop').header.devminor], ['block', 7, 200]);
  assert.equal(get('fifo').header.type, 'fifo');
  assert.equal(Math.floor(get('small.txt').header.mtime), Math.floor(lstatSync(join(root, 'small.txt')).mtimeMs / 1000));
  if (opts.xattrs) {
    assert.deepEqual(small.header.xattrs['user.x'], Buffer.from('y'));
    assert.deepEqual(get('empty').header.xattrs['trusted.t'], Buffer.from([0, 0xff, 1]));
  }
}

/** The tree of makeTree in a temp dir, archived by GNU tar with `tarArgs` into `file` beside it. */
function archivedTree(t: TestContext, file: string, tarArgs: string[]): { root: string; archive: string; dir: string } {
  const dir = tempDir(t);
  const root = join(dir, 'root');
  mkdirSync(root);
  makeTree(root);
  const archive = join(dir, file);
  execFileSync('tar', [...tarArgs, '-f', archive, '-C', root, '.']);
  return { root, archive, dir };
}

describe('reading what GNU tar writes', () => {
  test('pax format with xattrs: long names, links, devices, modes, owners', async (t) => {
    const { root, archive } = archivedTree(t, 'a.tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-c']);
    const entries = await readAll(createReadStream(archive));
    checkAgainstTree(entries, root, { xattrs: true });
  });

  test('gnu format: long names through L/K entries', async (t) => {
    const { root, archive } = archivedTree(t, 'a.tar', ['--format=gnu', '-c']);
    checkAgainstTree(await readAll(createReadStream(archive)), root, { xattrs: false });
  });

  test('gnu format: base-256 numbers for ids past octal', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'f'), 'x');
    const archive = join(dir, 'a.tar');
    execFileSync('tar', ['--format=gnu', '--owner=:300000000', '--group=:400000000', '-cf', archive, '-C', dir, 'f']);
    const entries = await readAll(createReadStream(archive));
    assert.equal(entries.get('f')!.header.uid, 300000000);
    assert.equal(entries.get('f')!.header.gid, 400000000);
  });

  test('pax: fractional mtime and big uid', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'f'), 'x');
    execFileSync('touch', ['-d', '@1700000000.25', join(dir, 'f')]);
    const archive = join(dir, 'a.tar');
    execFileSync('tar', ['--format=pax', '--owner=:300000000', '-cf', archive, '-C', dir, 'f']);
    const h = (await readAll(createReadStream(archive))).get('f')!.header;
    assert.equal(h.uid, 300000000);
    assert.equal(h.mtime, 1700000000.25);
  });

  test('gzip is sniffed and decompressed; plain tar passes through', async (t) => {
    const { root, dir, archive: tgz } = archivedTree(t, 'a.tgz', ['--format=pax', '--xattrs', '--xattrs-include=*', '-cz']);
    checkAgainstTree(await readAll(decompressedStream(createReadStream(tgz))), root, { xattrs: true });
    execFileSync('tar', ['--format=pax', '-cf', join(dir, 'a.tar'), '-C', root, '.']);
    checkAgainstTree(await readAll(decompressedStream(createReadStream(join(dir, 'a.tar')))), root, { xattrs: false });
  });

  test('zstd: decoded where Node can, refused with a clear message where not', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'f'), 'zstd body');
    const archive = join(dir, 'a.tar.zst');
    // tar --zstd runs zstd (scripts/setup.sh installs it).
    execFileSync('tar', ['--zstd', '-cf', archive, '-C', dir, 'f']);
    const read = readAll(decompressedStream(createReadStream(archive)));
    if ('createZstdDecompress' in (await import('node:zlib')).default) {
      assert.equal((await read).get('f')!.body.toString(), 'zstd body');
    } else {
      await assert.rejects(read, /zstd layers need Node ≥ 22\.15/);
    }
  });

  test('tiny input chunks: headers and bodies split across chunk boundaries', async (t) => {
    const { root, archive } = archivedTree(t, 'a.tar', ['--format=pax', '--xattrs', '--xattrs-include=*', '-c']);
    checkAgainstTree(await readAll(createReadStream(archive, { highWaterMark: 333 })), root, { xattrs: true });
  });

  test('entries whose bodies are not read are skipped', async (t) => {
    const { archive } = archivedTree(t, 'a.tar', ['-c']);
    const names: string[] = [];
    for await (const e of readTar(createReadStream(archive))) names.push(e.header.name);
    assert.ok(names.includes('./big.bin') && names.includes('./small.txt'));
  });
});

describe('damaged archives are refused', () => {
  async function archive(t: TestContext): Promise<{ dir: string; buf: Buffer }> {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'a'), 'a'.repeat(3000));
    writeFileSync(join(dir, 'b'), 'b'.repeat(10));
    execFileSync('tar', ['--format=ustar', '-cf', join(dir, 'x.tar'), '-C', dir, 'a', 'b']);
    return { dir, buf: readFileSync(join(dir, 'x.tar')) };
  }
  const consume = async (buf: Buffer) => {
    for await (const e of readTar([buf])) await e.skip();
  };

  test('a bad header checksum names the offset', async (t) => {
    const { buf } = await archive(t);
    // second header: after a's 512 header + 3072 body
    buf[3584 + 10] ^= 0x01;
    await assert.rejects(consume(buf), (err: unknown) => err instanceof TarError && err.offset === 3584 && /checksum/.test(err.message));
  });

  test('truncated in a body, in a header, and before the end blocks', async (t) => {
    const { buf } = await archive(t);
    await assert.rejects(consume(buf.subarray(0, 2000)), (err: unknown) => err instanceof TarError && /truncated.*body/.test(err.message) && err.offset === 2000);
    await assert.rejects(consume(buf.subarray(0, 3584 + 100)), /truncated archive: input ends inside a header block/);
    await assert.rejects(consume(buf.subarray(0, 3584 + 1024)), /truncated archive: input ends without the end-of-archive blocks/);
    await assert.rejects(consume(Buffer.alloc(0)), /truncated/);
  });

  test('a truncated gzip stream is refused', async (t) => {
    const { dir } = await archive(t);
    execFileSync('gzip', ['-k', join(dir, 'x.tar')]);
    const gz = readFileSync(join(dir, 'x.tar.gz'));
    await assert.rejects(async () => {
      for await (const e of readTar(decompressedStream([gz.subarray(0, gz.length - 20)]))) await e.skip();
    });
  });

  test('a lone zero block followed by a header is refused', async (t) => {
    const { buf } = await archive(t);
    const bad = Buffer.concat([buf.subarray(0, 3584), Buffer.alloc(512), buf.subarray(3584)]);
    await assert.rejects(consume(bad), /lone zero block/);
  });
});

describe('writing', () => {
  test('GNU tar extracts what TarWriter writes, and readTar reads it back', async (t) => {
    const dir = tempDir(t);
    const file = join(dir, 'w.tar');
    const w = new TarWriter(createWriteStream(file));
    const big = randomBytes(700_001);
    writeFileSync(join(dir, 'src.bin'), big);
    await w.add({ name: 'dir', type: 'dir', mode: 0o750, mtime: 1_600_000_000 });
    await w.add({ name: 'dir/hello', type: 'file', mode: 0o4755, uid: 1000, gid: 1001, mtime: 1_600_000_001 }, 'hello\n');
    await w.add({ name: `dir/${LONG_FILE}`, type: 'file' }, 'long\n');
    await w.add({ name: 'dir/ünï', type: 'file' }, 'u');
    await w.add({ name: 'dir/sym', type: 'symlink', linkname: LONG_TARGET });
    await w.add({ name: 'dir/hard', type: 'hardlink', linkname: 'dir/hello' });
    await w.add({ name: 'dir/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    await w.add({ name: 'dir/fifo', type: 'fifo' });
    await w.add({ name: 'dir/x', type: 'file', xattrs: { 'user.x': Buffer.from('y'), 'trusted.overlay.opaque': Buffer.from('y') } }, '');
    await w.add({ name: 'dir/bigid', type: 'file', uid: 300000000 }, 'z');
    await w.addFile({ name: 'dir/big.bin', type: 'file' }, join(dir, 'src.bin'));
    const streamed = async function* () {
      yield Buffer.from('ab');
      yield Buffer.from('cd');
    };
    await w.add({ name: 'dir/streamed', type: 'file', size: 4 }, streamed());
    const result = await w.finish();
    const bytes = readFileSync(file);
    assert.equal(result.bytes, bytes.length);
    assert.equal(result.digest, `sha256:${(await import('node:crypto')).createHash('sha256').update(bytes).digest('hex')}`);

    const out = join(dir, 'out');
    mkdirSync(out);
    execFileSync('tar', ['--xattrs', '--xattrs-include=*', '-xf', file, '-C', out]);
    assert.equal(readFileSync(join(out, 'dir/hello'), 'utf8'), 'hello\n');
    const st = lstatSync(join(out, 'dir/hello'));
    assert.equal(st.mode & 0o7777, 0o4755);
    assert.equal(st.uid, 1000);
    assert.equal(st.mtimeMs, 1_600_000_001_000);
    assert.equal(st.nlink, 2);
    assert.equal(lstatSync(join(out, 'dir')).mode & 0o7777, 0o750);
    assert.equal(readFileSync(join(out, 'dir', LONG_FILE), 'utf8'), 'long\n');
    assert.equal(readFileSync(join(out, 'dir/ünï'), 'utf8'), 'u');
    assert.equal(readlinkSync(join(out, 'dir/sym')), LONG_TARGET);
    assert.ok(lstatSync(join(out, 'dir/null')).isCharacterDevice());
    assert.ok(lstatSync(join(out, 'dir/fifo')).isFIFO());
    assert.deepEqual(readFileSync(join(out, 'dir/big.bin')), big);
    assert.equal(readFileSync(join(out, 'dir/streamed'), 'utf8'), 'abcd');
    assert.equal(lstatSync(join(out, 'dir/bigid')).uid, 300000000);
    assert.equal(execFileSync('getfattr', ['--only-values', '-n', 'user.x', join(out, 'dir/x')], { encoding: 'utf8' }), 'y');

    const back = await readAll(createReadStream(file));
    assert.equal(back.get('dir')!.header.type, 'dir');
    assert.deepEqual(back.get('dir/x')!.header.xattrs['trusted.overlay.opaque'], Buffer.from('y'));
    assert.equal(back.get(`dir/${LONG_FILE}`)!.body.toString(), 'long\n');
    assert.equal(back.get('dir/sym')!.header.linkname, LONG_TARGET);
    assert.equal(back.get('dir/bigid')!.header.uid, 300000000);
  });

  test('a body of the wrong length is refused', async (t) => {
    const dir = tempDir(t);
    const w = new TarWriter(createWriteStream(join(dir, 'w.tar')));
    await assert.rejects(w.add({ name: 'f', type: 'file', size: 10 }, Buffer.from('short')), /body is 5 bytes, header says 10/);
  });
});

describe('decompression in a worker (the applier\'s input)', () => {
  test('same bytes and digest in the worker and in the thread; an early stop ends cleanly', async (t) => {
    const dir = tempDir(t);
    const plain = randomBytes(5_000_000);
    const gz = (await import('node:zlib')).gzipSync(plain);
    writeFileSync(join(dir, 'x.gz'), gz);
    const sha = `sha256:${(await import('node:crypto')).createHash('sha256').update(plain).digest('hex')}`;
    for (const worker of ['1', '0']) {
      process.env.BERTH_INFLATE_WORKER = worker;
      for (const input of [() => createReadStream(join(dir, 'x.gz'), { highWaterMark: 65536 }), () => [plain]]) {
        const u = uncompressedWithDigest(input());
        const parts: Buffer[] = [];
        for await (const c of u.chunks) parts.push(c);
        assert.deepEqual(Buffer.concat(parts), plain);
        assert.equal(u.digest(), sha);
        assert.equal(u.bytes(), plain.length);
      }
      const early = uncompressedWithDigest(createReadStream(join(dir, 'x.gz')));
      for await (const c of early.chunks) {
        assert.ok(c.length > 0);
        break;
      }
      assert.throws(() => early.digest(), /only once the chunks have ended/);
      const bad = uncompressedWithDigest([gz.subarray(0, gz.length - 1000)]);
      await assert.rejects((async () => {
        for await (const c of bad.chunks) assert.ok(c);
      })(), /^Error: gzip: unexpected end of file$/);
    }
    delete process.env.BERTH_INFLATE_WORKER;
  });
});

describe('members of tar files', () => {
  test('readTarMembers picks named members (plain and gzip); indexTar gives offsets', async (t) => {
    const dir = tempDir(t);
    writeFileSync(join(dir, 'manifest.json'), '[{"Config":"c.json"}]');
    writeFileSync(join(dir, 'index.json'), '{"schemaVersion":2}');
    writeFileSync(join(dir, 'layer.tar'), randomBytes(5000));
    execFileSync('tar', ['-cf', join(dir, 'img.tar'), '-C', dir, './manifest.json', 'layer.tar', 'index.json']);
    execFileSync('gzip', ['-k', join(dir, 'img.tar')]);
    for (const f of ['img.tar', 'img.tar.gz']) {
      const m = await readTarMembers(join(dir, f), ['manifest.json', 'index.json']);
      assert.equal(m.get('manifest.json')!.toString(), '[{"Config":"c.json"}]');
      assert.equal(m.get('index.json')!.toString(), '{"schemaVersion":2}');
      assert.equal(m.size, 2);
    }
    const index = await indexTar(join(dir, 'img.tar'));
    assert.deepEqual(index.map((e) => e.name), ['manifest.json', 'layer.tar', 'index.json']);
    const layer = index.find((e) => e.name === 'layer.tar')!;
    const parts: Buffer[] = [];
    for await (const c of openTarMember(join(dir, 'img.tar'), layer)) parts.push(c as Buffer);
    assert.deepEqual(Buffer.concat(parts), readFileSync(join(dir, 'layer.tar')));
    await assert.rejects(indexTar(join(dir, 'img.tar.gz')), /gzip-compressed/);
  });
});
