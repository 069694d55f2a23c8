// Images in and out: the busybox test image (three layers, a deletion, an opaque dir, a gzip
// layer) saved as docker-archive and OCI archive, loaded into an empty store with the same
// digests, read by skopeo both ways; docker's own save layout; `import` of a flat rootfs and
// `commit` on top of an image; and every refusal (truncated archive, wrong digest, wrong diff_id,
// wrong size) leaving the store exactly as it was.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import zlib, { gzipSync } from 'node:zlib';
import { readTarMembers } from '../src/tar/index.js';
import type { ImageConfig, ImageIndex, ImageManifest } from '../src/oci/image-spec.js';
import { MediaType } from '../src/oci/image-spec.js';
import { DigestError, ImageError } from '../src/image/errors.js';
import type { ImageStore } from '../src/image/store.js';
import { imageLayers } from '../src/image/layers.js';
import { loadArchive } from '../src/image/formats/load.js';
import { saveArchive } from '../src/image/formats/save.js';
import { importRootfs } from '../src/image/formats/import.js';
import { commitImage } from '../src/image/commit.js';
import { imageArchitecture } from '../src/image/platform.js';
import { BUSYBOX_MISSING_REASON, FIXTURE_CONFIG, FIXTURE_REF, busyboxAvailable, busyboxLayers, buildTestImage, makeTar, writeDockerSaveFixture } from './helpers/image-fixture.js';
import { storeListing, tempStore } from './helpers/image-store.js';
import { validateAgainstImageSchema, type ImageSchemaName } from './helpers/oci-image-schema.js';

const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
const skopeo = spawnSync('skopeo', ['--version']).status === 0;
const zstdCompress = (zlib as unknown as { zstdCompressSync?: (data: Buffer) => Buffer }).zstdCompressSync;
const SKOPEO_MISSING_REASON = 'skopeo not installed (apt-get install skopeo)';

function scratch(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-test-archives-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function assertValid(name: ImageSchemaName, value: unknown): void {
  assert.deepEqual(validateAgainstImageSchema(name, value), [], `${name}: ${JSON.stringify(value)}`);
}

/** A refusal: one line, the expected class and message, and the store listing unchanged. */
async function assertRefused(store: ImageStore, action: Promise<unknown>, kind: typeof ImageError, message: RegExp, before: string[]): Promise<void> {
  await assert.rejects(action, (err: Error) => {
    assert.ok(err instanceof kind, `${err.name}: ${err.message}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes('\n'), err.message);
    return true;
  });
  assert.deepEqual(storeListing(store.root), before);
}

/** A tar rewritten with some members changed (by name) and others dropped. */
async function rewriteArchive(file: string, out: string, change: (name: string, data: Buffer) => Buffer | null): Promise<void> {
  const members = await readTarMembers(file);
  const entries: Parameters<typeof makeTar>[0] = [];
  for (const [name, data] of members) {
    const changed = change(name, data);
    if (changed !== null) entries.push([{ name, type: 'file' }, changed]);
  }
  writeFileSync(out, await makeTar(entries));
}

function skopeoInspect(transport: string, ...flags: string[]): Record<string, unknown> {
  const r = spawnSync('skopeo', ['--insecure-policy', 'inspect', ...flags, transport], { encoding: 'utf8' });
  assert.equal(r.status, 0, `skopeo inspect ${transport}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

describe('the test image', { skip }, () => {
  test('three layers with diff_ids and chain ids; documents valid against the image-spec schemas', async (t) => {
    const store = tempStore(t);
    const record = await buildTestImage(store);
    const fixture = await busyboxLayers();
    assert.deepEqual(record.names, [`docker.io/${FIXTURE_REF}`]);
    const { manifest, config, layers } = await imageLayers(store, FIXTURE_REF);
    assert.deepEqual(layers.map((l) => l.descriptor.digest), fixture.map((l) => l.digest));
    assert.deepEqual(layers.map((l) => l.diffID), fixture.map((l) => l.diffID));
    assert.deepEqual(layers.map((l) => l.compression), ['none', 'none', 'gzip']);
    assert.deepEqual(layers.map((l) => l.descriptor.mediaType), [MediaType.ociLayer, MediaType.ociLayer, MediaType.ociLayerGzip]);
    // chainID(1) = diffID(1); chainID(n) = sha256(chainID(n-1) + " " + diffID(n))
    const c1 = fixture[0]!.diffID;
    const c2 = sha(`${c1} ${fixture[1]!.diffID}`);
    const c3 = sha(`${c2} ${fixture[2]!.diffID}`);
    assert.deepEqual(layers.map((l) => l.chainID), [c1, c2, c3]);
    assert.equal(config.architecture, imageArchitecture());
    assert.deepEqual(config.config, FIXTURE_CONFIG);
    assert.equal(config.history?.length, 3);
    assert.equal(record.id, manifest.config.digest);
    assert.equal(record.manifest.mediaType, MediaType.ociManifest);
    assert.equal(record.manifest.platform?.architecture, imageArchitecture());
    assertValid('image-manifest-schema', manifest);
    assertValid('config-schema', config);
    assertValid('content-descriptor', record.manifest);
    // The same image built again has the same digests.
    const again = await buildTestImage(tempStore(t));
    assert.equal(again.id, record.id);
    assert.equal(again.manifest.digest, record.manifest.digest);
  });

  test('every document berth writes validates against the image-spec schemas', async (t) => {
    // The validator itself refuses what the spec does not allow.
    assert.notDeepEqual(validateAgainstImageSchema('image-manifest-schema', { schemaVersion: 2, layers: [] }), []);
    assert.notDeepEqual(validateAgainstImageSchema('config-schema', { os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }), []);
    const dir = scratch(t);
    const store = tempStore(t);
    const built = await buildTestImage(store);
    const [base] = await busyboxLayers();
    const imported = await importRootfs(store, Readable.from([base!.blob]));
    const committed = await commitImage(store, { parent: built.id, layers: [{ source: base!.blob }], history: { created_by: 'test' } });
    const fixture = await writeDockerSaveFixture(join(dir, 'docker-save.tar'));
    await loadArchive(store, fixture.file);
    for (const record of store.listImages()) {
      const { manifest, config } = await imageLayers(store, record);
      assert.deepEqual(validateAgainstImageSchema('image-manifest-schema', manifest), [], record.manifest.digest);
      assert.deepEqual(validateAgainstImageSchema('config-schema', config), [], record.id);
      assert.deepEqual(validateAgainstImageSchema('content-descriptor', record.manifest), [], record.manifest.digest);
    }
    assert.equal(store.listImages().length, 5, `${imported.id} ${committed.id}`);
    const oci = join(dir, 'all.oci.tar');
    await saveArchive(store, store.listImages().map((r) => r.id), oci, 'oci');
    const members = await readTarMembers(oci);
    assert.deepEqual(validateAgainstImageSchema('image-index-schema', JSON.parse(members.get('index.json')!.toString())), []);
    assert.deepEqual(validateAgainstImageSchema('image-layout-schema', JSON.parse(members.get('oci-layout')!.toString())), []);
  });
});

describe('save and load', { skip }, () => {
  for (const format of ['docker', 'oci'] as const) {
    test(`${format}: save, load into an empty store, same digests and names; save again, same bytes`, async (t) => {
      const dir = scratch(t);
      const source = tempStore(t);
      const original = await buildTestImage(source);
      source.tag(FIXTURE_REF, 'localhost:5000/team/busybox:v1');
      const file = join(dir, `image.${format}.tar`);
      const saved = await saveArchive(source, [FIXTURE_REF, 'localhost:5000/team/busybox:v1'], file, format);
      assert.deepEqual(saved.images.map((r) => r.id), [original.id]);

      const members = await readTarMembers(file);
      if (format === 'oci') {
        const index = JSON.parse(members.get('index.json')!.toString()) as ImageIndex;
        assertValid('image-index-schema', index);
        assertValid('image-layout-schema', JSON.parse(members.get('oci-layout')!.toString()));
        assert.deepEqual(index.manifests.map((m) => m.annotations), [
          { 'io.containerd.image.name': `docker.io/${FIXTURE_REF}`, 'org.opencontainers.image.ref.name': 'layers' },
          { 'io.containerd.image.name': 'localhost:5000/team/busybox:v1', 'org.opencontainers.image.ref.name': 'v1' },
        ]);
        const manifest = JSON.parse(members.get(`blobs/sha256/${original.manifest.digest.slice(7)}`)!.toString()) as ImageManifest;
        assertValid('image-manifest-schema', manifest);
      } else {
        const manifest = JSON.parse(members.get('manifest.json')!.toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
        assert.equal(manifest.length, 1);
        assert.deepEqual(manifest[0]!.RepoTags, [FIXTURE_REF, 'localhost:5000/team/busybox:v1']);
        assert.equal(manifest[0]!.Config, `blobs/sha256/${original.id.slice(7)}`);
        assert.equal(manifest[0]!.Layers.length, 3);
        assert.deepEqual(JSON.parse(members.get('repositories')!.toString()), {
          'berth-test/busybox': { layers: (await busyboxLayers())[2]!.digest.slice(7) },
          'localhost:5000/team/busybox': { v1: (await busyboxLayers())[2]!.digest.slice(7) },
        });
      }

      const target = tempStore(t);
      const loaded = await loadArchive(target, file);
      assert.equal(loaded.format, format === 'oci' ? 'oci-archive' : 'docker-archive');
      assert.equal(loaded.images.length, 1);
      const image = loaded.images[0]!;
      assert.equal(image.id, original.id);
      assert.equal(image.manifest.digest, original.manifest.digest);
      assert.deepEqual(image.names.sort(), [`docker.io/${FIXTURE_REF}`, 'localhost:5000/team/busybox:v1']);
      const a = await imageLayers(source, original.id);
      const b = await imageLayers(target, image.id);
      assert.deepEqual(b.layers, a.layers);
      // Nothing but the image's own blobs came in: no stray files of the archive.
      assert.deepEqual(target.content.list().sort(), [original.manifest.digest, original.id, ...a.layers.map((l) => l.descriptor.digest)].sort());
      assert.deepEqual(storeListing(target.root).filter((l) => l.startsWith('tmp/') || l.startsWith('leases/')), []);

      const again = join(dir, `again.${format}.tar`);
      await saveArchive(target, [FIXTURE_REF, 'localhost:5000/team/busybox:v1'], again, format);
      assert.deepEqual(readFileSync(again), readFileSync(file));

      // Loading the same archive twice changes nothing.
      const listing = storeListing(target.root);
      await loadArchive(target, file);
      assert.deepEqual(storeListing(target.root), listing);
    });
  }

  test('an image saved by id has no name; an archive from a stream, and gzip-compressed', async (t) => {
    const dir = scratch(t);
    const source = tempStore(t);
    const original = await buildTestImage(source);
    const file = join(dir, 'by-id.tar');
    await saveArchive(source, [original.id.slice(7, 19)], file, 'docker');
    const manifest = JSON.parse((await readTarMembers(file)).get('manifest.json')!.toString()) as { RepoTags: unknown }[];
    assert.equal(manifest[0]!.RepoTags, null);
    writeFileSync(`${file}.gz`, gzipSync(readFileSync(file)));
    const target = tempStore(t);
    const loaded = await loadArchive(target, Readable.from([readFileSync(`${file}.gz`)]), { label: 'stdin' });
    assert.equal(loaded.images[0]!.id, original.id);
    assert.deepEqual(loaded.images[0]!.names, []);
    assert.deepEqual(target.listImages().map((r) => r.id), [original.id]);
  });

  test("docker 25's save (an OCI layout plus manifest.json): read as OCI, named by RepoTags", async (t) => {
    const dir = scratch(t);
    const source = tempStore(t);
    const original = await buildTestImage(source);
    const oci = join(dir, 'oci.tar');
    await saveArchive(source, [FIXTURE_REF], oci, 'oci');
    const { layers } = await imageLayers(source, original);
    const both = join(dir, 'docker25.tar');
    const members = await readTarMembers(oci);
    const index = JSON.parse(members.get('index.json')!.toString()) as ImageIndex;
    delete index.manifests[0]!.annotations;
    members.set('index.json', Buffer.from(JSON.stringify(index)));
    const blob = (d: string) => `blobs/sha256/${d.slice(7)}`;
    members.set('manifest.json', Buffer.from(JSON.stringify([{ Config: blob(original.id), RepoTags: ['docker25:latest'], Layers: layers.map((l) => blob(l.descriptor.digest)) }])));
    writeFileSync(both, await makeTar([...members].map(([name, data]) => [{ name, type: 'file' }, data])));
    const store = tempStore(t);
    const loaded = await loadArchive(store, both);
    assert.equal(loaded.format, 'oci-archive');
    assert.equal(loaded.images[0]!.manifest.digest, original.manifest.digest);
    assert.deepEqual(loaded.images[0]!.names, ['docker.io/library/docker25:latest']);
  });

  test("docker's own save layout: <id>/layer.tar, <hex>.json, a symlinked shared layer, two images", async (t) => {
    const dir = scratch(t);
    const fixture = await writeDockerSaveFixture(join(dir, 'docker-save.tar'));
    const store = tempStore(t);
    const loaded = await loadArchive(store, createReadStream(fixture.file));
    assert.equal(loaded.format, 'docker-archive');
    assert.equal(loaded.images.length, 2);
    const image = store.resolve('berth-test/docker-save:latest');
    assert.equal(image.id, fixture.configDigest);
    const { layers, manifest } = await imageLayers(store, image);
    assert.deepEqual(layers.map((l) => l.diffID), fixture.layers.map((l) => l.diffID));
    assert.deepEqual(layers.map((l) => l.descriptor.digest), fixture.layers.map((l) => l.digest), 'layers stored as given (plain)');
    assertValid('image-manifest-schema', manifest);
    const base = await imageLayers(store, 'berth-test/docker-save:base');
    assert.deepEqual(base.layers.map((l) => l.descriptor.digest), [fixture.layers[0]!.digest]);
    // The legacy VERSION files and manifest.json are not blobs.
    assert.equal(store.content.list().length, 3 + 2 + 2);
  });
});

describe('skopeo reads what berth writes, and berth what skopeo writes', { skip: skip || (skopeo ? false : SKOPEO_MISSING_REASON) }, () => {
  test('skopeo inspect accepts both archives; skopeo copy to an OCI layout and a docker-archive loads back', async (t) => {
    const dir = scratch(t);
    const source = tempStore(t);
    const original = await buildTestImage(source);
    const config = await source.readJSON<ImageConfig>(original.id);
    const docker = join(dir, 'docker.tar');
    const oci = join(dir, 'oci.tar');
    await saveArchive(source, [FIXTURE_REF], docker, 'docker');
    await saveArchive(source, [FIXTURE_REF], oci, 'oci');

    for (const transport of [`docker-archive:${docker}`, `oci-archive:${oci}`]) {
      const info = skopeoInspect(transport);
      assert.equal(info.Architecture, imageArchitecture(), transport);
      assert.equal(info.Os, 'linux');
      assert.deepEqual(info.Labels, FIXTURE_CONFIG.Labels);
      assert.deepEqual(info.Env, FIXTURE_CONFIG.Env);
      assert.equal((info.Layers as string[]).length, 3);
      assert.deepEqual(skopeoInspect(transport, '--config').rootfs, config.rootfs, transport);
    }
    assert.equal(skopeoInspect(`oci-archive:${oci}`).Digest, original.manifest.digest);

    // skopeo's OCI layout directory (skopeo compresses the plain layers on the way: another
    // manifest, the same config, so the same image id and diff_ids).
    const layout = join(dir, 'layout');
    const copy = spawnSync('skopeo', ['--insecure-policy', 'copy', `oci-archive:${oci}`, `oci:${layout}:copied`], { encoding: 'utf8' });
    assert.equal(copy.status, 0, copy.stderr);
    const fromLayout = tempStore(t);
    const loaded = await loadArchive(fromLayout, layout);
    assert.equal(loaded.format, 'oci-layout');
    assert.equal(loaded.images[0]!.id, original.id);
    assert.deepEqual(loaded.images[0]!.names, [], 'a bare tag as ref.name names no repository');
    assert.deepEqual((await imageLayers(fromLayout, original.id)).layers.map((l) => l.diffID), config.rootfs.diff_ids);

    // skopeo's docker-archive (it writes docker's pre-25 layout, layers uncompressed).
    const skopeoDocker = join(dir, 'skopeo-docker.tar');
    const copy2 = spawnSync('skopeo', ['--insecure-policy', 'copy', `oci-archive:${oci}`, `docker-archive:${skopeoDocker}:example.com/copied:1`], { encoding: 'utf8' });
    assert.equal(copy2.status, 0, copy2.stderr);
    const fromDocker = tempStore(t);
    const loaded2 = await loadArchive(fromDocker, skopeoDocker);
    assert.equal(loaded2.format, 'docker-archive');
    assert.equal(loaded2.images[0]!.id, original.id, 'the config is the same, so the id is');
    assert.deepEqual(loaded2.images[0]!.names, ['example.com/copied:1']);
    const layers = await imageLayers(fromDocker, 'example.com/copied:1');
    assert.deepEqual(layers.layers.map((l) => l.diffID), config.rootfs.diff_ids);
  });
});

describe('refused archives leave the store as it was', { skip }, () => {
  /** A store that already has an image (which a rollback must not touch) and a saved archive. */
  async function setup(t: TestContext, format: 'docker' | 'oci') {
    const dir = scratch(t);
    const source = tempStore(t);
    const original = await buildTestImage(source);
    const file = join(dir, `image.${format}.tar`);
    await saveArchive(source, [FIXTURE_REF], file, format);
    const store = tempStore(t);
    // Shares the base layer with the archive: a failed load must not remove it.
    const base = (await busyboxLayers())[0]!;
    await commitImage(store, { layers: [{ source: base.blob }], ref: 'already/here', created: new Date(0) });
    return { dir, file, store, original, before: storeListing(store.root) };
  }

  for (const format of ['docker', 'oci'] as const) {
    test(`${format}: a truncated archive`, async (t) => {
      const { dir, file, store, before } = await setup(t, format);
      const size = readFileSync(file).length;
      for (const cut of [size - 700, Math.floor(size / 2), 1000, 100]) {
        const truncated = join(dir, `cut-${cut}.tar`);
        writeFileSync(truncated, readFileSync(file));
        truncateSync(truncated, cut);
        await assertRefused(store, loadArchive(store, truncated), ImageError, /truncated archive|missing from the archive|not a valid/, before);
      }
      // A gzip-compressed archive cut short.
      const gz = join(dir, 'cut.tar.gz');
      const zipped = gzipSync(readFileSync(file));
      writeFileSync(gz, zipped.subarray(0, zipped.length - 5000));
      await assert.rejects(loadArchive(store, gz));
      assert.deepEqual(storeListing(store.root), before);
    });

    test(`${format}: a layer whose content does not match its digest`, async (t) => {
      const { dir, file, store, before } = await setup(t, format);
      const target = (await busyboxLayers())[1]!.digest.slice(7);
      const bad = join(dir, 'bad.tar');
      await rewriteArchive(file, bad, (name, data) => {
        if (!name.endsWith(target)) return data;
        const copy = Buffer.from(data);
        copy[600] ^= 0xff;
        return copy;
      });
      await assertRefused(store, loadArchive(store, bad), DigestError, new RegExp(`blobs/sha256/${target}: digest mismatch: expected sha256:${target}`), before);
    });
  }

  test('docker-archive: a config whose diff_id does not match its layer', async (t) => {
    const dir = scratch(t);
    const store = tempStore(t);
    const before = storeListing(store.root);
    const fixture = await writeDockerSaveFixture(join(dir, 'wrong-diff-id.tar'), { wrongDiffID: true });
    const layerPath = `${fixture.layers[1]!.diffID.slice(7, 71).split('').reverse().join('')}/layer.tar`;
    await assertRefused(store, loadArchive(store, fixture.file), DigestError, new RegExp(`wrong-diff-id.tar: ${layerPath} \\(layer 1 of [a-f0-9]{64}\\.json\\): diff_id mismatch: the config says sha256:[a-f0-9]{64}, the uncompressed layer is ${fixture.layers[1]!.diffID}`), before);
  });

  test('oci: a config whose diff_id does not match, a descriptor with the wrong size, a missing blob', async (t) => {
    const { dir, file, store, original, before } = await setup(t, 'oci');
    const members = await readTarMembers(file);
    const manifestName = `blobs/sha256/${original.manifest.digest.slice(7)}`;
    const manifest = JSON.parse(members.get(manifestName)!.toString()) as ImageManifest;
    const config = JSON.parse(members.get(`blobs/sha256/${original.id.slice(7)}`)!.toString()) as ImageConfig;

    // A config (with its manifest and index re-made to match) naming a different diff_id.
    const wrongConfig = Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: [config.rootfs.diff_ids[0], sha('other'), config.rootfs.diff_ids[2]] } }));
    const wrongManifest = Buffer.from(JSON.stringify({ ...manifest, config: { ...manifest.config, digest: sha(wrongConfig), size: wrongConfig.length } }));
    const index = (m: Buffer, size = m.length): string => JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociManifest, digest: sha(m), size }] });
    const diffFile = join(dir, 'diff.tar');
    await rewriteArchive(file, diffFile, (name, data) => (name === 'index.json' ? Buffer.from(index(wrongManifest)) : data));
    const withBlobs = await readTarMembers(diffFile);
    withBlobs.set(`blobs/sha256/${sha(wrongConfig).slice(7)}`, wrongConfig);
    withBlobs.set(`blobs/sha256/${sha(wrongManifest).slice(7)}`, wrongManifest);
    writeFileSync(diffFile, await makeTar([...withBlobs].map(([name, data]) => [{ name, type: 'file' }, data])));
    await assertRefused(store, loadArchive(store, diffFile), DigestError, new RegExp(`layer 1 of manifest ${sha(wrongManifest)} .*: diff_id mismatch: the config says ${sha('other')}`), before);

    // index.json gives the manifest a wrong size.
    const sizeFile = join(dir, 'size.tar');
    const realManifest = members.get(manifestName)!;
    await rewriteArchive(file, sizeFile, (name, data) => (name === 'index.json' ? Buffer.from(index(realManifest, realManifest.length + 1)) : data));
    await assertRefused(store, loadArchive(store, sizeFile), DigestError, /size mismatch: the descriptor says \d+ bytes, the blob has \d+/, before);

    // A layer missing from the archive.
    const layer = manifest.layers[2]!.digest.slice(7);
    const missingFile = join(dir, 'missing.tar');
    await rewriteArchive(file, missingFile, (name, data) => (name.endsWith(layer) ? null : data));
    await assertRefused(store, loadArchive(store, missingFile), ImageError, new RegExp(`layer 2 of manifest ${original.manifest.digest} sha256:${layer}: missing from the archive`), before);

    // Neither format.
    const neither = join(dir, 'neither.tar');
    writeFileSync(neither, await makeTar([[{ name: 'hello', type: 'file' }, 'hi']]));
    await assertRefused(store, loadArchive(store, neither), ImageError, /neither a docker-archive \(no manifest.json\) nor an OCI layout/, before);
    await assertRefused(store, loadArchive(store, join(dir, 'nothing-here.tar')), ImageError, /nothing-here.tar: no such file or directory/, before);
  });
});

describe('import and commit', { skip }, () => {
  test('import: a flat rootfs tar (plain, gzip, from a stream) becomes a one-layer image', async (t) => {
    const dir = scratch(t);
    const store = tempStore(t);
    const [base] = await busyboxLayers();
    const file = join(dir, 'rootfs.tar');
    writeFileSync(file, base!.blob);
    const created = new Date('2024-05-06T07:08:09Z');
    const record = await importRootfs(store, file, { ref: 'imported:plain', created });
    assert.deepEqual(record.names, ['docker.io/library/imported:plain']);
    const { config, layers, manifest } = await imageLayers(store, 'imported:plain');
    assert.deepEqual(layers.map((l) => [l.descriptor.digest, l.diffID, l.compression]), [[base!.digest, base!.diffID, 'none']]);
    assert.equal(config.architecture, imageArchitecture());
    assert.equal(config.os, 'linux');
    assert.equal(config.config?.Cmd, undefined);
    assert.deepEqual(config.history, [{ created: created.toISOString(), created_by: '', comment: `imported from ${file}` }]);
    assertValid('config-schema', config);
    assertValid('image-manifest-schema', manifest);

    const gz = gzipSync(base!.blob);
    const fromStream = await importRootfs(store, Readable.from([gz]), { created, message: 'from stdin' });
    const streamed = await imageLayers(store, fromStream.id);
    assert.equal(streamed.layers[0]!.compression, 'gzip');
    assert.equal(streamed.layers[0]!.descriptor.mediaType, MediaType.ociLayerGzip);
    assert.equal(streamed.layers[0]!.diffID, base!.diffID);
    assert.equal(streamed.config.history?.[0]?.comment, 'from stdin');
    assert.deepEqual(fromStream.names, []);
    assert.deepEqual(store.listImages().length, 2);

    // Not a tar: refused, nothing left.
    const before = storeListing(store.root);
    await assertRefused(store, importRootfs(store, Readable.from([Buffer.from('not a tar at all, just text'.repeat(40))])), ImageError, /import of -: not a valid tar/, before);
    await assertRefused(store, importRootfs(store, join(dir, 'absent.tar')), ImageError, /absent.tar: no such file/, before);
  });

  test('import: a zstd-compressed rootfs, where this Node decodes zstd', { skip: zstdCompress === undefined ? `no zstd in Node ${process.versions.node} (Node >= 22.15 has it)` : false }, async (t) => {
    const store = tempStore(t);
    const [base] = await busyboxLayers();
    const record = await importRootfs(store, Readable.from([zstdCompress!(base!.blob)]), { ref: 'imported:zstd' });
    const { layers } = await imageLayers(store, record);
    assert.equal(layers[0]!.compression, 'zstd');
    assert.equal(layers[0]!.descriptor.mediaType, MediaType.ociLayerZstd);
    assert.equal(layers[0]!.diffID, base!.diffID);
  });

  test('commit: a new layer on top of the test image extends diff_ids, history and chain ids', async (t) => {
    const store = tempStore(t);
    const parent = await buildTestImage(store);
    const parentLayers = await imageLayers(store, parent);
    const diff = await makeTar([
      [{ name: 'etc', type: 'dir' }],
      [{ name: 'etc/.wh.motd', type: 'file' }, ''],
      [{ name: 'committed.txt', type: 'file' }, 'written in a container\n'],
    ]);
    const created = new Date('2024-06-01T00:00:00Z');
    const record = await commitImage(store, {
      parent: FIXTURE_REF,
      layers: [{ source: diff, diffID: sha(diff) }],
      history: { created_by: 'berth commit', comment: 'a test commit' },
      author: 'tester',
      config: { ...FIXTURE_CONFIG, Cmd: ['cat', '/committed.txt'] },
      ref: 'committed:1',
      created,
    });
    const { config, layers, manifest } = await imageLayers(store, 'committed:1');
    assert.equal(layers.length, 4);
    assert.deepEqual(layers.slice(0, 3), parentLayers.layers);
    assert.equal(layers[3]!.diffID, sha(diff));
    assert.equal(layers[3]!.chainID, sha(`${parentLayers.layers[2]!.chainID} ${sha(diff)}`));
    assert.deepEqual(config.config?.Cmd, ['cat', '/committed.txt']);
    assert.equal(config.author, 'tester');
    assert.deepEqual(config.history?.[3], { created_by: 'berth commit', comment: 'a test commit', created: created.toISOString(), author: 'tester' });
    assert.equal(config.history?.length, 4);
    assertValid('config-schema', config);
    assertValid('image-manifest-schema', manifest);
    assert.equal(record.id, manifest.config.digest);

    // A wrong diff_id is refused; nothing is left.
    const before = storeListing(store.root);
    const other = await makeTar([[{ name: 'x', type: 'file' }, 'x']]);
    await assertRefused(store, commitImage(store, { parent: parent.id, layers: [{ source: other, diffID: sha('not it') }] }), DigestError, /commit: layer 0: diff_id mismatch/, before);

    // A layer from a file, gzip-compressed, on no parent.
    const dir = scratch(t);
    writeFileSync(join(dir, 'layer.tar.gz'), gzipSync(other));
    const scratchImage = await commitImage(store, { layers: [{ source: join(dir, 'layer.tar.gz') }], created });
    const s = await imageLayers(store, scratchImage.id);
    assert.deepEqual(s.config.rootfs.diff_ids, [sha(other)]);
    assert.equal(s.layers[0]!.compression, 'gzip');
  });
});
