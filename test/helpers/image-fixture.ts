// A test image from Debian's busybox-static, never downloaded: three layers written with berth's
// tar writer, with what layers really hold:
//   0 (plain tar)  the rootfs: /bin/busybox and applet symlinks, a hardlink, /etc/passwd and
//                  group, /tmp 1777, /etc/removed-me, /opt/data/{old-1,old-2}
//   1 (plain tar)  a deletion (etc/.wh.removed-me), an opaque dir (opt/data/.wh..wh..opq then
//                  opt/data/new), /etc/motd
//   2 (gzip)       /hello.txt, /etc/motd changed
// Fixed times everywhere, so the image's digests are the same on every run.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { TarWriter, type TarEntryInput } from '../../src/tar/index.js';
import type { ContainerConfig, Digest, ImageConfig } from '../../src/oci/image-spec.js';
import type { ImageRecord, ImageStore } from '../../src/image/store.js';
import { commitImage } from '../../src/image/commit.js';
import { imageArchitecture } from '../../src/image/platform.js';

export const BUSYBOX = '/bin/busybox';
export const BUSYBOX_MISSING_REASON = `${BUSYBOX} not found (apt-get install busybox-static)`;
export const FIXTURE_CREATED = new Date('2024-01-02T03:04:05Z');
export const FIXTURE_REF = 'berth-test/busybox:layers';
export const FIXTURE_CONFIG: ContainerConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  Cmd: ['sh'],
  WorkingDir: '/',
  Labels: { 'org.berth.test': 'busybox-layers' },
  StopSignal: 'SIGTERM',
};

export function busyboxAvailable(): boolean {
  return existsSync(BUSYBOX);
}

const digestOf = (data: Buffer): Digest => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** A tar made by TarWriter, in memory. */
export async function makeTar(entries: [TarEntryInput, (Buffer | string)?][]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      done();
    },
  });
  const tar = new TarWriter(sink);
  for (const [header, body] of entries) await tar.add({ mtime: FIXTURE_CREATED.getTime() / 1000, ...header }, body);
  await tar.finish();
  return Buffer.concat(chunks);
}

export interface FixtureLayer {
  /** The layer as stored (gzip for the last one). */
  blob: Buffer;
  compression: 'none' | 'gzip';
  digest: Digest;
  diffID: Digest;
}

const APPLETS = ['sh', 'ls', 'cat', 'echo', 'rm', 'ps', 'id', 'stat', 'true', 'false', 'sleep', 'mkdir', 'touch', 'env', 'hostname'];

/** The three layers, bottom first; `applets` linked in the base layer besides the usual ones. */
export async function busyboxLayers(applets: string[] = []): Promise<FixtureLayer[]> {
  const busybox = readFileSync(BUSYBOX);
  const base = await makeTar([
    [{ name: 'bin', type: 'dir' }],
    [{ name: 'bin/busybox', type: 'file', mode: 0o755 }, busybox],
    ...[...APPLETS, ...applets.filter((a) => !APPLETS.includes(a))].map((a): [TarEntryInput] => [{ name: `bin/${a}`, type: 'symlink', linkname: 'busybox' }]),
    // The link's header carries the file's mode, as GNU tar and docker write it: containerd applies it to the inode.
    [{ name: 'bin/busybox-hardlink', type: 'hardlink', linkname: 'bin/busybox', mode: 0o755 }],
    [{ name: 'etc', type: 'dir' }],
    [{ name: 'etc/passwd', type: 'file' }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'],
    [{ name: 'etc/group', type: 'file' }, 'root:x:0:\nnogroup:x:65534:\n'],
    [{ name: 'etc/removed-me', type: 'file' }, 'this file is deleted by layer 1\n'],
    [{ name: 'tmp', type: 'dir', mode: 0o1777 }],
    [{ name: 'root', type: 'dir', mode: 0o700 }],
    [{ name: 'opt', type: 'dir' }],
    [{ name: 'opt/data', type: 'dir' }],
    [{ name: 'opt/data/old-1', type: 'file' }, 'hidden by the opaque dir of layer 1\n'],
    [{ name: 'opt/data/old-2', type: 'file', uid: 1000, gid: 1000, mode: 0o600 }, 'hidden too\n'],
  ]);
  const changes = await makeTar([
    [{ name: 'etc', type: 'dir' }],
    [{ name: 'etc/.wh.removed-me', type: 'file' }, ''],
    [{ name: 'etc/motd', type: 'file' }, 'layer 1\n'],
    [{ name: 'opt', type: 'dir' }],
    [{ name: 'opt/data', type: 'dir' }],
    [{ name: 'opt/data/.wh..wh..opq', type: 'file' }, ''],
    [{ name: 'opt/data/new', type: 'file' }, 'the only file of /opt/data\n'],
  ]);
  const top = await makeTar([
    [{ name: 'hello.txt', type: 'file' }, 'hello from layer 2\n'],
    [{ name: 'etc', type: 'dir' }],
    [{ name: 'etc/motd', type: 'file' }, 'layer 2\n'],
  ]);
  const gzipped = gzipSync(top, { level: 6 });
  return [
    { blob: base, compression: 'none', digest: digestOf(base), diffID: digestOf(base) },
    { blob: changes, compression: 'none', digest: digestOf(changes), diffID: digestOf(changes) },
    { blob: gzipped, compression: 'gzip', digest: digestOf(gzipped), diffID: digestOf(top) },
  ];
}

/** The fixture as an image in `store`, named `ref`, through the public commit API. */
export async function buildTestImage(store: ImageStore, ref: string = FIXTURE_REF): Promise<ImageRecord> {
  const layers = await busyboxLayers();
  return commitImage(store, {
    config: FIXTURE_CONFIG,
    layers: layers.map((l) => ({ source: l.blob, diffID: l.diffID })),
    history: { created_by: 'berth test fixture', comment: 'busybox-static in three layers' },
    ref,
    created: FIXTURE_CREATED,
  });
}

export interface DockerSaveOptions {
  /** RepoTags of the image (docker's short names). */
  repoTags?: string[];
  /** Put a wrong digest in the config's rootfs.diff_ids[1]. */
  wrongDiffID?: boolean;
  /** The image's config (its command, environment), instead of FIXTURE_CONFIG. */
  config?: ContainerConfig;
  /** More busybox applets in /bin. */
  applets?: string[];
}

export interface DockerSaveFixture {
  file: string;
  configDigest: Digest;
  layers: FixtureLayer[];
}

/**
 * The fixture as `docker save` wrote it before docker 25: `<id>/layer.tar` (plain tars),
 * `<id>/VERSION`, `<hex>.json`, manifest.json, repositories, and a second image (the base layer
 * alone) whose layer path is a symlink to the first image's, as docker writes shared layers.
 */
export async function writeDockerSaveFixture(file: string, options: DockerSaveOptions = {}): Promise<DockerSaveFixture> {
  const layers = await busyboxLayers(options.applets);
  const plain = layers.map((l) => (l.compression === 'gzip' ? { ...l, blob: gunzipped(l), compression: 'none' as const, digest: l.diffID } : l));
  const diffIDs = plain.map((l) => l.diffID);
  if (options.wrongDiffID) diffIDs[1] = digestOf(Buffer.from('not this layer'));
  const config: ImageConfig = {
    architecture: imageArchitecture(),
    os: 'linux',
    created: FIXTURE_CREATED.toISOString(),
    config: options.config ?? FIXTURE_CONFIG,
    rootfs: { type: 'layers', diff_ids: diffIDs },
    history: diffIDs.map(() => ({ created: FIXTURE_CREATED.toISOString(), created_by: 'docker-save fixture' })),
  };
  const configJSON = Buffer.from(JSON.stringify(config));
  const configHex = digestOf(configJSON).slice(7);
  const baseConfig = Buffer.from(JSON.stringify({ ...config, rootfs: { type: 'layers', diff_ids: [plain[0]!.diffID] }, history: [config.history![0]] }));
  const ids = plain.map((l) => l.diffID.slice(7, 71).split('').reverse().join('')); // v1-style ids, not digests
  const entries: [TarEntryInput, (Buffer | string)?][] = [];
  plain.forEach((layer, i) => {
    entries.push([{ name: `${ids[i]}/`, type: 'dir' }]);
    entries.push([{ name: `${ids[i]}/VERSION`, type: 'file' }, '1.0']);
    entries.push([{ name: `${ids[i]}/layer.tar`, type: 'file' }, layer.blob]);
  });
  entries.push([{ name: 'shared/', type: 'dir' }]);
  entries.push([{ name: 'shared/layer.tar', type: 'symlink', linkname: `../${ids[0]}/layer.tar` }]);
  entries.push([{ name: `${configHex}.json`, type: 'file' }, configJSON]);
  entries.push([{ name: `${digestOf(baseConfig).slice(7)}.json`, type: 'file' }, baseConfig]);
  const manifest = [
    { Config: `${configHex}.json`, RepoTags: options.repoTags ?? ['berth-test/docker-save:latest'], Layers: ids.map((id) => `${id}/layer.tar`) },
    { Config: `${digestOf(baseConfig).slice(7)}.json`, RepoTags: ['berth-test/docker-save:base'], Layers: ['shared/layer.tar'] },
  ];
  entries.push([{ name: 'manifest.json', type: 'file' }, JSON.stringify(manifest)]);
  entries.push([{ name: 'repositories', type: 'file' }, JSON.stringify({ 'berth-test/docker-save': { latest: ids[2], base: ids[0] } })]);
  writeFileSync(file, await makeTar(entries));
  return { file, configDigest: `sha256:${configHex}`, layers: plain };
}

function gunzipped(layer: FixtureLayer): Buffer {
  return gunzipSync(layer.blob);
}
