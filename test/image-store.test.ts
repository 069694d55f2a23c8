// The content store and the image records: content verified on the way in with nothing left of a
// refused blob, several processes adding the same blob or changing the records at once (no lost
// update, never a torn images.json), stale locks, and docker's ways of naming, tagging, removing
// and pruning images.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { MediaType } from '../src/oci/image-spec.js';
import { DigestError, ImageError, NotFoundError } from '../src/image/errors.js';
import { buildManifest, encodeJSON } from '../src/image/manifest.js';
import { acquireLock } from '../src/fs/lock.js';
import type { ImageStore } from '../src/image/store.js';
import { blobAndTempFiles, moduleUrl, runNode, storeListing, tempStore } from './helpers/image-store.js';

const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Deterministic pseudo-random content of `size` bytes (AES-CTR over zeros, keyed by the seed). */
function content(size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16)).update(Buffer.alloc(size));
}

/** A minimal image in the store: a config and one layer (arbitrary bytes), named `names`. */
async function smallImage(store: ImageStore, seed: string, names: string[] = []) {
  const layer = await store.ingest(Buffer.from(`layer ${seed}`), { mediaType: MediaType.ociLayer });
  const config = await store.ingest(encodeJSON({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] }, seed }), { mediaType: MediaType.ociConfig });
  const manifest = await store.ingest(encodeJSON(buildManifest(config, [layer])), { mediaType: MediaType.ociManifest });
  return store.putImage({ manifest, names });
}

describe('content store: ingest', () => {
  test('a buffer and a stream: the descriptor, the blob, and no temp file', async (t) => {
    const store = tempStore(t);
    const data = content(300_000, 'a');
    const d1 = await store.ingest(data, { mediaType: 'application/x-test' });
    assert.deepEqual(d1, { mediaType: 'application/x-test', digest: sha(data), size: data.length });
    assert.ok(store.has(d1.digest));
    assert.equal(store.size(d1.digest), data.length);
    assert.deepEqual(await store.read(d1.digest), data);
    const other = content(1_000_001, 'b');
    const d2 = await store.ingest(Readable.from([other.subarray(0, 7), other.subarray(7)]), { expected: { digest: sha(other), size: other.length } });
    assert.equal(d2.digest, sha(other));
    const chunks: Buffer[] = [];
    for await (const c of store.readStream(d2.digest)) chunks.push(c as Buffer);
    assert.deepEqual(Buffer.concat(chunks), other);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [d1.digest, d2.digest].map((d) => d.slice(7)).sort(), tmp: [] });
    assert.equal(statSync(store.content.path(d1.digest)).mode & 0o777, 0o644);
  });

  test('a wrong digest or size is refused and leaves nothing in blobs/ or tmp/', async (t) => {
    const store = tempStore(t);
    const data = content(200_000, 'c');
    const before = storeListing(store.root);
    const wrong = sha('something else');
    const cases: [Parameters<ImageStore['ingest']>[1], RegExp][] = [
      [{ expected: { digest: wrong } }, new RegExp(`digest mismatch: expected ${wrong}, got ${sha(data)}`)],
      [{ expected: { digest: sha(data), size: data.length + 1 } }, /size mismatch: expected 200001 bytes, got 200000/],
      [{ expected: { size: data.length - 1 } }, /more than the expected 199999 bytes/],
      [{ expected: { digest: 'sha512:abcd' } }, /unsupported digest algorithm sha512/],
      [{ expected: { digest: 'sha256:XYZ' } }, /not a sha256 digest/],
    ];
    for (const [options, message] of cases) {
      for (const source of [data, Readable.from([data])]) {
        await assert.rejects(store.ingest(source, { ...options, what: 'test blob' }), (err: Error) => {
          assert.ok(err instanceof ImageError, String(err));
          assert.match(err.message, message);
          assert.match(err.message, /^test blob/);
          return true;
        });
        assert.deepEqual(blobAndTempFiles(store.root), { blobs: [], tmp: [] });
      }
    }
    assert.deepEqual(storeListing(store.root), before);
  });

  test('a stream that fails midway leaves nothing', async (t) => {
    const store = tempStore(t);
    async function* broken() {
      yield content(100_000, 'd');
      throw new Error('connection reset');
    }
    await assert.rejects(store.ingest(broken()), /connection reset/);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [], tmp: [] });
  });

  test('content already there is checked, not rewritten; a wrong copy of it is still refused', async (t) => {
    const store = tempStore(t);
    const data = content(50_000, 'e');
    const first = await store.ingest(data);
    const path = store.content.path(first.digest);
    const { ino, mtimeMs } = statSync(path);
    const again = await store.ingest(Readable.from([data]), { expected: { digest: first.digest, size: data.length } });
    assert.deepEqual(again, first);
    assert.equal(statSync(path).ino, ino);
    assert.equal(statSync(path).mtimeMs, mtimeMs);
    const tampered = Buffer.from(data);
    tampered[100] ^= 1;
    await assert.rejects(store.ingest(tampered, { expected: { digest: first.digest } }), DigestError);
    assert.deepEqual(await store.read(first.digest), data);
    assert.deepEqual(blobAndTempFiles(store.root).tmp, []);
  });

  test('the same blob ingested by four processes at once: one blob, intact, no temp left', async (t) => {
    const store = tempStore(t);
    const size = 16 * 1024 * 1024;
    const digest = sha(content(size, 'shared'));
    const body = `
      import { createCipheriv, createHash } from 'node:crypto';
      import { Readable } from 'node:stream';
      const { ImageStore } = await import(${JSON.stringify(moduleUrl('src/image/store.js'))});
      const [root, size, expected] = process.argv.slice(1);
      function* chunks() {
        const key = createHash('sha256').update('shared').digest();
        const out = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16)).update(Buffer.alloc(Number(size)));
        for (let i = 0; i < out.length; i += 65536) yield out.subarray(i, i + 65536);
      }
      const store = new ImageStore(root);
      const d = await store.ingest(Readable.from(chunks()), { expected: { digest: expected, size: Number(size) } });
      process.stdout.write(d.digest);
    `;
    const results = await Promise.all([1, 2, 3, 4].map(() => runNode(body, [store.root, String(size), digest])));
    for (const r of results) {
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, digest);
    }
    assert.equal(sha(await store.read(digest)), digest);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [digest.slice(7)], tmp: [] });
  });
});

describe('content store: download', () => {
  test('batches written and hashed in the thread pool: verified whole, a partial continued, wrong bytes refused', async (t) => {
    const store = tempStore(t);
    const data = content(3_000_000, 'download');
    const expected = { digest: sha(data), size: data.length };
    // The blob from `from` on, as 2,000-byte chunks in batches of `per` chunks.
    const ranged = (bytes: Buffer, from: number, per: number) => ({
      start: from,
      batches: (async function* () {
        const chunks: Buffer[] = [];
        for (let i = from; i < bytes.length; i += 2000) chunks.push(Buffer.from(bytes.subarray(i, i + 2000)));
        for (let i = 0; i < chunks.length; i += per) yield chunks.slice(i, i + per);
      })(),
      cancel() {},
    });
    // One batch of 1,500 chunks: more buffers than one writev takes (IOV_MAX, 1024).
    assert.deepEqual(await store.download(expected, async (offset) => ranged(data, offset, 1500)), { mediaType: 'application/octet-stream', ...expected });
    assert.deepEqual(await store.read(expected.digest), data);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [expected.digest.slice(7)], tmp: [] });

    // A partial download an earlier process left is hashed with the rest (sha256 of the whole).
    const again = tempStore(t);
    mkdirSync(again.content.tmpDir, { recursive: true });
    writeFileSync(join(again.content.tmpDir, `partial-${expected.digest.slice(7)}`), data.subarray(0, 1_234_567));
    const asked: number[] = [];
    await again.download(expected, async (offset) => (asked.push(offset), ranged(data, offset, 100)));
    assert.deepEqual(asked, [1_234_567]);
    assert.deepEqual(await again.read(expected.digest), data);

    // Other bytes of the same size: refused, and nothing stays.
    const third = tempStore(t);
    await assert.rejects(
      third.download(expected, async (offset) => ranged(content(data.length, 'other'), offset, 100), { what: 'layer 1' }),
      (err: Error) => err instanceof DigestError && /^layer 1: digest mismatch/.test(err.message),
    );
    assert.deepEqual(blobAndTempFiles(third.root), { blobs: [], tmp: [] });
  });
});

describe('image records', () => {
  test('resolve by name, full id, id prefix, name@digest; ambiguity and absence are errors', async (t) => {
    const store = tempStore(t);
    const a = await smallImage(store, 'a', ['busybox']);
    const b = await smallImage(store, 'b', ['localhost:5000/x/y:1']);
    assert.deepEqual(a.names, ['docker.io/library/busybox:latest']);
    for (const text of ['busybox', 'busybox:latest', 'docker.io/library/busybox', a.id, a.id.slice(7), a.id.slice(7, 19), `busybox@${a.manifest.digest}`]) {
      assert.equal(store.resolve(text).id, a.id, text);
    }
    assert.equal(store.resolve('localhost:5000/x/y:1').id, b.id);
    assert.throws(() => store.resolve('busybox:2'), (err: Error) => err instanceof NotFoundError && err.message === 'No such image: busybox:2');
    assert.throws(() => store.resolve(`sha256:${'0'.repeat(64)}`), NotFoundError);
    assert.throws(() => store.resolve('Not Valid'), /invalid reference "Not Valid"/);
    // Find two ids with a common first hex digit to make a prefix ambiguous.
    const images = [a, b];
    for (let i = 0; new Set(images.map((r) => r.id[7])).size === images.length; i += 1) images.push(await smallImage(store, `more-${i}`));
    const counts = new Map<string, number>();
    for (const r of images) counts.set(r.id[7]!, (counts.get(r.id[7]!) ?? 0) + 1);
    const shared = [...counts].find(([, n]) => n > 1)![0];
    assert.throws(() => store.resolve(shared), /image id prefix .* is ambiguous/);
  });

  test('tag moves a name, untag leaves a dangling image, remove works as docker rmi', async (t) => {
    const store = tempStore(t);
    const a = await smallImage(store, 'a', ['app:1']);
    const b = await smallImage(store, 'b', ['app:2']);
    store.tag('app:1', 'app:latest');
    store.tag('app:1', 'registry.example.com/team/app:1');
    assert.deepEqual(store.resolve(a.id).names, ['docker.io/library/app:1', 'docker.io/library/app:latest', 'registry.example.com/team/app:1']);
    store.tag(b.id.slice(7, 19), 'app:latest'); // moved from a to b
    assert.equal(store.resolve('app:latest').id, b.id);
    assert.deepEqual(store.resolve(a.id).names, ['docker.io/library/app:1', 'registry.example.com/team/app:1']);
    assert.throws(() => store.tag('app:1', `app@sha256:${'1'.repeat(64)}`), /cannot tag with a digest/);
    assert.throws(() => store.tag('nothing', 'x'), NotFoundError);

    // By id with several names: refused without force.
    assert.throws(() => store.remove(a.id), /referenced by 2 names/);
    // By name: only that name goes while others remain.
    assert.deepEqual(store.remove('registry.example.com/team/app:1'), { untagged: ['registry.example.com/team/app:1'], deleted: [], removedBlobs: [] });
    // Its last name: the image goes, with its blobs.
    const removed = store.remove('app:1');
    assert.deepEqual(removed.untagged, ['docker.io/library/app:1']);
    assert.deepEqual(removed.deleted, [a.id]);
    assert.ok(removed.removedBlobs.includes(a.id) && removed.removedBlobs.includes(a.manifest.digest));
    assert.ok(!store.has(a.id));
    assert.equal(store.find(a.id), undefined);

    assert.deepEqual(store.untag('app:2').names, ['docker.io/library/app:latest']);
    assert.deepEqual(store.untag('app:latest').names, []);
    assert.equal(store.resolve(b.id).id, b.id);
    assert.throws(() => store.untag('app:2'), NotFoundError);
    store.tag(b.id, 'x:1');
    store.tag(b.id, 'x:2');
    assert.deepEqual(store.remove(b.id, { force: true }).untagged, ['docker.io/library/x:1', 'docker.io/library/x:2']);
    assert.deepEqual(store.listImages(), []);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [], tmp: [] });
  });

  test('putImage refuses an image whose blobs are not all in the store', async (t) => {
    const store = tempStore(t);
    const config = await store.ingest(encodeJSON({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha('x')] } }));
    const manifest = await store.ingest(encodeJSON(buildManifest(config, [{ mediaType: MediaType.ociLayer, digest: sha('x'), size: 1 }])));
    assert.throws(() => store.putImage({ manifest, names: ['x'] }), new RegExp(`blob ${sha('x')} is not in the store`));
    assert.deepEqual(store.listImages(), []);
  });

  test('prune: dangling images and unreferenced blobs go, leased blobs and images in use stay; disk usage', async (t) => {
    const store = tempStore(t);
    const kept = await smallImage(store, 'kept', ['kept']);
    const dangling = await smallImage(store, 'dangling');
    const used = await smallImage(store, 'used');
    const stray = await store.ingest(Buffer.from('nobody needs me'));
    const lease = store.lease();
    const leased = await store.ingest(Buffer.from('a load in progress needs me'), { lease });
    const usage = store.diskUsage();
    assert.equal(usage.images.length, 3);
    assert.equal(usage.blobCount, 3 * 3 + 2);
    assert.equal(usage.unreferencedBytes, stray.size + leased.size);
    assert.equal(usage.images.find((i) => i.id === kept.id)!.size, store.size(kept.id) + store.size(kept.manifest.digest) + 'layer kept'.length);

    const sizes = new Map(store.content.list().map((d) => [d, store.size(d)]));
    const result = store.prune({ inUse: (id) => id === used.id });
    assert.deepEqual(result.deletedImages, [dangling.id]);
    assert.ok(result.removedBlobs.includes(stray.digest));
    assert.ok(!result.removedBlobs.includes(leased.digest));
    assert.ok(store.has(leased.digest) && store.has(used.id) && store.has(kept.id) && !store.has(dangling.id));
    assert.equal(result.reclaimedBytes, result.removedBlobs.reduce((n, d) => n + sizes.get(d)!, 0));
    assert.equal(result.removedBlobs.length, 3 + 1);

    // Ending the lease of a load that recorded nothing takes back what it added.
    assert.deepEqual(store.endLease(lease), [leased.digest]);
    assert.ok(!store.has(leased.digest));
    assert.deepEqual(store.prune({ all: true, inUse: (id) => id === used.id }).deletedImages, [kept.id]);
    assert.deepEqual(store.listImages().map((r) => r.id), [used.id]);
  });

  test('a lease of a dead process protects nothing', async (t) => {
    const store = tempStore(t);
    const r = await runNode(
      `const { ImageStore } = await import(${JSON.stringify(moduleUrl('src/image/store.js'))});
       const store = new ImageStore(process.argv[1]);
       await store.ingest(Buffer.from('orphan'), { lease: store.lease() });
       process.exit(0);`,
      [store.root],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(store.has(sha('orphan')));
    assert.deepEqual(store.prune().removedBlobs, [sha('orphan')]);
    assert.deepEqual(blobAndTempFiles(store.root), { blobs: [], tmp: [] });
  });
});

describe('the records lock between processes', () => {
  test('six processes tagging at once: no update lost, images.json always whole', async (t) => {
    const store = tempStore(t);
    const image = await smallImage(store, 'base', ['base']);
    const writers = 6;
    const each = 15;
    const body = `
      const { ImageStore } = await import(${JSON.stringify(moduleUrl('src/image/store.js'))});
      const [root, who, count] = process.argv.slice(1);
      const store = new ImageStore(root);
      for (let i = 0; i < Number(count); i++) {
        store.tag('base', 'w' + who + '/app:' + i);
        // A reader without the lock must always see a whole file.
        store.listImages();
      }
    `;
    // A reader in this process, polling the file while they write.
    let reads = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        if (existsSync(join(store.root, 'images.json'))) {
          JSON.parse(readFileSync(join(store.root, 'images.json'), 'utf8'));
          reads += 1;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const results = await Promise.all(Array.from({ length: writers }, (_, w) => runNode(body, [store.root, String(w), String(each)])));
    polling = false;
    await poll;
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    const names = store.resolve(image.id).names;
    assert.equal(names.length, 1 + writers * each);
    for (let w = 0; w < writers; w += 1) for (let i = 0; i < each; i += 1) assert.ok(names.includes(`docker.io/w${w}/app:${i}`), `w${w}/app:${i}`);
    assert.ok(!existsSync(store.records.lockFile), 'no lock file left');
    assert.ok(reads > 0);
  });

  test('a stale lock (its holder dead) is broken; a live one makes the waiter wait', async (t) => {
    const store = tempStore(t);
    await smallImage(store, 'a', ['a']);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(store.records.lockFile, `${dead.stdout.toString()} 12345 deadbeef\n`);
    store.tag('a', 'b');
    assert.ok(!existsSync(store.records.lockFile));

    // A live holder (this process) keeps another process waiting until it lets go.
    const release = acquireLock(store.records.lockFile);
    const waiter = runNode(
      `const { ImageStore } = await import(${JSON.stringify(moduleUrl('src/image/store.js'))});
       new ImageStore(process.argv[1]).tag('a', 'c');`,
      [store.root],
    );
    // While the lock is held the tag cannot land, however soon the waiter started.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(store.find('c'), undefined);
    release();
    const r = await waiter;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(store.resolve('c').id, store.resolve('a').id);
  });

  test('a lock that is never released times out with a message naming it', async (t) => {
    const store = tempStore(t);
    const release = acquireLock(store.records.lockFile);
    t.after(release);
    assert.throws(() => acquireLock(store.records.lockFile, { timeoutMs: 200 }), new RegExp(`timed out after 200 ms waiting for the lock ${store.records.lockFile} \\(held by pid ${process.pid}\\)`));
  });
});
