// berth pull/push/login/logout against real registries: Debian's docker-registry open, behind
// htpasswd Basic auth, and behind a token server (the bearer flow); skopeo on the other side of
// each transfer; and the failures a network gives, each with a clear error and the store as it was.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { MediaType } from '../src/image/types.js';
import type { ImageStore } from '../src/image/store.js';
import { hostPlatform } from '../src/image/platform.js';
import { pull, pullImage, pushImage, parseChallenge, readCredentials, type PullEvent, type PushEvent } from '../src/image/registry/index.js';
import { buildTestImage, busyboxAvailable, busyboxLayers, FIXTURE_REF, writeDockerSaveFixture } from './helpers/image-fixture.js';
import { blobAndTempFiles, tempStore } from './helpers/image-store.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startProxy, startRegistry, startTokenServer } from './helpers/registry.js';

const BERTH = fileURLToPath(new URL('../bin/berth.mjs', import.meta.url));
const skip = !registryAvailable() ? 'docker-registry not installed' : !busyboxAvailable() ? 'busybox-static not installed' : false;
const sha = (data: Buffer | string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const FAST = { retryDelayMs: 20 };
// `berth run` is on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** The bundled CLI, asynchronously (the token server and proxy run in this process). */
function berth(env: Record<string, string>, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BERTH, ...args], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.stdin.end(env.STDIN ?? '');
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

function ok(r: Result): string {
  assert.equal(r.status, 0, `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

/** What "the store unchanged" means: its blobs, its temp files, its image records. */
function snapshot(store: ImageStore): unknown {
  let images = 'none';
  try {
    images = readFileSync(join(store.root, 'images.json'), 'utf8');
  } catch {
    // no records yet
  }
  let leases: string[] = [];
  try {
    leases = spawnSync('ls', [join(store.root, 'leases')], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  } catch {
    // none
  }
  return { ...blobAndTempFiles(store.root), images, leases };
}

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(`/tmp/berth-test-${prefix}-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A pushed copy of the 3-layer fixture at HOST/berth/busybox:layers; returns the source store. */
async function pushFixture(t: TestContext, host: string, options = {}): Promise<{ source: ImageStore; ref: string; manifestDigest: string }> {
  const source = tempStore(t);
  const record = await buildTestImage(source);
  const ref = `${host}/berth/busybox:layers`;
  const result = await pushImage(source, FIXTURE_REF, ref, options);
  assert.equal(result.digest, record.manifest.digest);
  return { source, ref, manifestDigest: record.manifest.digest };
}

describe('registry client: pieces', () => {
  test('WWW-Authenticate challenges', () => {
    assert.deepEqual(parseChallenge('Bearer realm="http://127.0.0.1:1/token",service="reg",scope="repository:a/b:pull,push"'), {
      scheme: 'bearer',
      params: { realm: 'http://127.0.0.1:1/token', service: 'reg', scope: 'repository:a/b:pull,push' },
    });
    assert.deepEqual(parseChallenge('Basic realm="berth-test"'), { scheme: 'basic', params: { realm: 'berth-test' } });
    assert.equal(parseChallenge(undefined), undefined);
  });

  test('credentials in a docker config: read, keys other tools wrote are kept', (t) => {
    const dir = tempDir(t, 'docker-config');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://r.example:5000': { auth: Buffer.from('u:p:w').toString('base64') } }, psFormat: 'x' }));
    assert.deepEqual(readCredentials('r.example:5000', join(dir, 'config.json')), { username: 'u', password: 'p:w' });
    assert.equal(readCredentials('other.example', join(dir, 'config.json')), undefined);
  });
});

describe('registry: open', { skip }, () => {
  test('round trip: push the 3-layer image, pull it into an empty store, same digests; again is all reuse; another repo mounts', async (t) => {
    const registry = await startRegistry(t);
    // The first push goes through a proxy that records requests: the big layer in PATCH chunks.
    const proxy = await startProxy(t, registry.host);
    const events: PushEvent[] = [];
    const first = await pushFixture(t, proxy.host, { chunkSize: 256 * 1024, onEvent: (e: PushEvent) => events.push(e) });
    assert.equal(events.filter((e) => e.type === 'done').length, 3);
    const busyboxSize = (await first.source.manifest(first.source.resolve(FIXTURE_REF))).layers[0]!.size;
    assert.equal(proxy.seen.filter((s) => s.startsWith('PATCH ')).length, Math.ceil(busyboxSize / (256 * 1024)));
    assert.ok(proxy.seen.some((s) => s.startsWith('PUT /v2/berth/busybox/blobs/uploads/')));
    const { source, manifestDigest } = first;
    const ref = `${registry.host}/berth/busybox:layers`;
    const target = tempStore(t);
    const pullEvents: PullEvent[] = [];
    const result = await pull(target, ref, { onEvent: (e) => pullEvents.push(e) });
    const original = source.resolve(FIXTURE_REF);
    assert.equal(result.record.id, original.id);
    assert.equal(result.record.manifest.digest, manifestDigest);
    assert.equal(result.digest, manifestDigest);
    assert.deepEqual(result.record.names, [ref]);
    assert.deepEqual(result.record.repoDigests, [`${registry.host}/berth/busybox@${manifestDigest}`]);
    assert.deepEqual(target.content.list().sort(), source.content.list().sort());
    assert.equal(result.downloaded, 4);
    assert.deepEqual(blobAndTempFiles(target.root).tmp, []);
    // A second pull reuses every blob.
    const again = await pull(target, ref);
    assert.equal(again.downloaded, 0);
    // Pushed again: every blob is already there. To another repository: mounted, not uploaded.
    const second: PushEvent[] = [];
    await pushImage(source, FIXTURE_REF, ref, { onEvent: (e) => second.push(e) });
    assert.equal(second.filter((e) => e.type === 'exists').length, 3);
    const third: PushEvent[] = [];
    await pushImage(source, FIXTURE_REF, `${registry.host}/other/copy:1`, { onEvent: (e) => third.push(e) });
    assert.equal(third.filter((e) => e.type === 'mounted').length, 3, JSON.stringify(third));
    assert.equal(third.filter((e) => e.type === 'start').length, 0);
  });

  test('berth pull (CLI): plain progress lines, the digest last; -q; then berth run --rm of it', async (t) => {
    const registry = await startRegistry(t);
    const { ref, manifestDigest } = await pushFixture(t, registry.host);
    const root = tempDir(t, 'root');
    const out = ok(await berth({ BERTH_ROOT: root }, 'pull', ref));
    const lines = out.trim().split('\n');
    assert.equal(lines[0], 'layers: Pulling from berth/busybox');
    assert.ok(lines.some((l) => /^[a-f0-9]{12}: Pulling fs layer$/.test(l)), out);
    assert.ok(lines.some((l) => /^[a-f0-9]{12}: Download complete$/.test(l)), out);
    assert.equal(lines.filter((l) => /: Pull complete$/.test(l)).length, 3, out);
    assert.equal(lines.at(-1), `Digest: ${manifestDigest}`);
    assert.equal(ok(await berth({ BERTH_ROOT: root }, 'pull', '-q', ref)), `${ref}\n`);
    const run = await berth({ BERTH_ROOT: root }, 'run', '--rm', ref, 'cat', '/hello.txt', '/etc/motd');
    assert.equal(ok(run), 'hello from layer 2\nlayer 2\n');
  });

  test('push by berth, read by skopeo; a docker-archive copied by skopeo, pulled by berth', async (t) => {
    const registry = await startRegistry(t);
    const { ref, manifestDigest } = await pushFixture(t, registry.host);
    const inspect = spawnSync('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`], { encoding: 'utf8' });
    assert.equal(inspect.status, 0, inspect.stderr);
    const facts = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[]; Labels: Record<string, string> };
    assert.equal(facts.Digest, manifestDigest);
    assert.equal(facts.Layers.length, 3);
    assert.equal(facts.Labels['org.berth.test'], 'busybox-layers');

    const dir = tempDir(t, 'skopeo');
    const fixture = await writeDockerSaveFixture(join(dir, 'image.tar'));
    const dest = `${registry.host}/from/skopeo:1`;
    const copy = spawnSync('skopeo', ['copy', '--dest-tls-verify=false', `docker-archive:${fixture.file}:berth-test/docker-save:latest`, `docker://${dest}`], { encoding: 'utf8' });
    assert.equal(copy.status, 0, copy.stderr);
    const store = tempStore(t);
    const record = await pullImage(store, dest);
    assert.equal(record.id, fixture.configDigest);
    assert.equal(record.manifest.mediaType, MediaType.dockerManifest);
  });

  test('a multi-platform index pushed by skopeo: the host platform by default, another with --platform', async (t) => {
    const registry = await startRegistry(t);
    const dir = tempDir(t, 'layout');
    const blob = (data: Buffer | string): { digest: string; size: number } => {
      const buf = Buffer.from(data);
      mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
      writeFileSync(join(dir, 'blobs/sha256', sha(buf).slice(7)), buf);
      return { digest: sha(buf), size: buf.length };
    };
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? { os: 'linux', architecture: 'ppc64le' } : { os: 'linux', architecture: 's390x' };
    const layers = await busyboxLayers();
    const hostLayer = layers[2]!;
    const otherTar = gzipSync(Buffer.from('not really a tar for another machine'));
    const image = (platform: { os: string; architecture: string }, layer: Buffer, diffID: string) => {
      const config = blob(JSON.stringify({ architecture: platform.architecture, os: platform.os, rootfs: { type: 'layers', diff_ids: [diffID] } }));
      const l = blob(layer);
      const manifest = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: { mediaType: MediaType.ociConfig, ...config }, layers: [{ mediaType: MediaType.ociLayerGzip, ...l }] }));
      return { config, manifest: { mediaType: MediaType.ociManifest, ...manifest, platform } };
    };
    const mine = image(host, hostLayer.blob, hostLayer.diffID);
    const theirs = image(other, otherTar, sha('x'));
    const index = blob(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [theirs.manifest, mine.manifest] }));
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: MediaType.ociIndex, ...index, annotations: { 'org.opencontainers.image.ref.name': 'multi' } }] }));
    const ref = `${registry.host}/multi/arch:1`;
    const copy = spawnSync('skopeo', ['copy', '--all', '--dest-tls-verify=false', `oci:${dir}:multi`, `docker://${ref}`], { encoding: 'utf8' });
    assert.equal(copy.status, 0, copy.stderr);

    const store = tempStore(t);
    const result = await pull(store, ref);
    assert.equal(result.digest, index.digest);
    assert.equal(result.record.id, mine.config.digest);
    assert.equal(result.record.index?.digest, index.digest);
    assert.ok(!store.has(theirs.config.digest));
    const root = tempDir(t, 'root');
    const out = ok(await berth({ BERTH_ROOT: root }, 'pull', '--platform', `${other.os}/${other.architecture}`, ref));
    assert.match(out, new RegExp(`Digest: ${index.digest}\n$`));
    const listed = ok(await berth({ BERTH_ROOT: root }, 'image', 'inspect', ref));
    assert.equal((JSON.parse(listed) as { Id: string; Architecture: string }[])[0]!.Id, theirs.config.digest);
    const missing = await berth({ BERTH_ROOT: root }, 'pull', '--platform', 'linux/mips64le', ref);
    assert.equal(missing.status, 125);
    assert.match(missing.stderr, /^berth: pull .*: index sha256:[a-f0-9]{64}: no manifest for linux\/mips64le \(it has .*\)\n$/);
  });
});

describe('registry: failures leave the store as it was', { skip }, () => {
  test('tag not found; registry down', async (t) => {
    const registry = await startRegistry(t);
    const { ref } = await pushFixture(t, registry.host);
    const root = tempDir(t, 'root');
    const store = tempStore(t);
    const before = snapshot(store);
    const missing = await berth({ BERTH_ROOT: root }, 'pull', `${registry.host}/berth/busybox:nope`);
    assert.equal(missing.status, 125);
    assert.equal(missing.stderr, `berth: pull ${registry.host}/berth/busybox:nope: manifest unknown (404)\n`);
    await assert.rejects(pull(store, `${registry.host}/no/such:repo`), /^RegistryError: pull 127\.0\.0\.1:\d+\/no\/such:repo: manifest unknown \(404\)$/);
    assert.deepEqual(snapshot(store), before);
    await registry.stop();
    const down = await berth({ BERTH_ROOT: root }, 'pull', ref);
    assert.equal(down.status, 125);
    assert.equal(down.stderr, `berth: pull ${ref}: ${registry.host}: connection refused\n`);
    await assert.rejects(pull(store, ref, FAST), /connection refused/);
    assert.deepEqual(snapshot(store), before);
  });

  test('a manifest whose bytes do not match its digest, by tag and by digest', async (t) => {
    const registry = await startRegistry(t);
    const { manifestDigest } = await pushFixture(t, registry.host);
    const proxy = await startProxy(t, registry.host, { alterManifest: true });
    const store = tempStore(t);
    const before = snapshot(store);
    await assert.rejects(pull(store, `${proxy.host}/berth/busybox:layers`), /manifest digest mismatch: the registry says sha256:[a-f0-9]{64}, the content is sha256:/);
    await assert.rejects(pull(store, `${proxy.host}/berth/busybox@${manifestDigest}`), new RegExp(`manifest digest mismatch: asked for ${manifestDigest}`));
    assert.deepEqual(snapshot(store), before);
  });

  test('a blob served with wrong content: refused, and nothing of the pull stays', async (t) => {
    const registry = await startRegistry(t);
    const { source } = await pushFixture(t, registry.host);
    const layers = (await source.manifest(source.resolve(FIXTURE_REF))).layers;
    const proxy = await startProxy(t, registry.host, { corruptBlob: layers[1]!.digest });
    const store = tempStore(t);
    const before = snapshot(store);
    const r = await berth({ BERTH_ROOT: store.root }, 'pull', `${proxy.host}/berth/busybox:layers`);
    assert.equal(r.status, 125);
    assert.match(r.stderr, new RegExp(`^berth: pull ${proxy.host}/berth/busybox:layers: layer 2 ${layers[1]!.digest}: digest mismatch: expected ${layers[1]!.digest}, got sha256:[a-f0-9]{64}\n$`));
    assert.deepEqual(snapshot(store), before);
  });

  test('the connection cut mid-blob: the pull resumes with Range and completes', async (t) => {
    const registry = await startRegistry(t);
    const { source, manifestDigest } = await pushFixture(t, registry.host);
    const big = (await source.manifest(source.resolve(FIXTURE_REF))).layers[0]!;
    const proxy = await startProxy(t, registry.host, { cutBlob: big.digest });
    const store = tempStore(t);
    const retries: PullEvent[] = [];
    const result = await pull(store, `${proxy.host}/berth/busybox:layers`, { ...FAST, onEvent: (e) => e.type === 'retry' && retries.push(e) });
    assert.equal(result.record.manifest.digest, manifestDigest);
    assert.equal(retries.length, 1);
    const gets = proxy.seen.filter((s) => s.includes(big.digest));
    assert.equal(gets.length, 2, gets.join('\n'));
    assert.match(gets[1]!, /bytes=\d+-$/);
    assert.equal(store.size(big.digest), big.size);
    assert.deepEqual(blobAndTempFiles(store.root).tmp, []);
  });
});

describe('registry: htpasswd Basic auth', { skip }, () => {
  test('login verifies and stores (0600, other keys kept); push and pull with them; wrong password; logout', async (t) => {
    const registry = await startRegistry(t, { kind: 'htpasswd' });
    const config = tempDir(t, 'docker-config');
    writeFileSync(join(config, 'config.json'), JSON.stringify({ psFormat: 'table {{.ID}}' }));
    const root = tempDir(t, 'root');
    const env = { BERTH_ROOT: root, DOCKER_CONFIG: config };
    const source = tempStore(t);
    await buildTestImage(source);
    const ref = `${registry.host}/private/busybox:1`;
    await assert.rejects(pushImage(source, FIXTURE_REF, ref, { credentials: null }), /unauthorized: authentication required \(berth login 127\.0\.0\.1:\d+\)/);

    const wrong = await berth({ ...env, STDIN: 'nope\n' }, 'login', '-u', REGISTRY_USER, '--password-stdin', registry.host);
    assert.equal(wrong.status, 125);
    assert.equal(wrong.stderr, `berth: ${registry.host}: unauthorized: wrong username or password\n`);
    assert.deepEqual(JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')), { psFormat: 'table {{.ID}}' });

    assert.equal(ok(await berth({ ...env, STDIN: `${REGISTRY_PASSWORD}\n` }, 'login', '-u', REGISTRY_USER, '--password-stdin', registry.host)), 'Login Succeeded\n');
    const written = JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(written, { psFormat: 'table {{.ID}}', auths: { [registry.host]: { auth: Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64') } } });
    assert.equal(statSync(join(config, 'config.json')).mode & 0o777, 0o600);

    await pushImage(source, FIXTURE_REF, ref, { credentials: { username: REGISTRY_USER, password: REGISTRY_PASSWORD } });
    const out = ok(await berth(env, 'pull', ref));
    assert.match(out, /Digest: sha256:[a-f0-9]{64}\n$/);
    const store = tempStore(t);
    const before = snapshot(store);
    await assert.rejects(pull(store, ref, { credentials: { username: REGISTRY_USER, password: 'wrong' } }), /unauthorized: wrong username or password/);
    assert.deepEqual(snapshot(store), before);

    assert.equal(ok(await berth(env, 'logout', registry.host)), `Removing login credentials for ${registry.host}\n`);
    assert.deepEqual(JSON.parse(readFileSync(join(config, 'config.json'), 'utf8')), { psFormat: 'table {{.ID}}', auths: {} });
    assert.equal(ok(await berth(env, 'logout', registry.host)), `Not logged in to ${registry.host}\n`);
    const anonymous = await berth({ ...env, BERTH_ROOT: tempDir(t, 'root2') }, 'pull', ref);
    assert.equal(anonymous.status, 125);
    assert.match(anonymous.stderr, /unauthorized: authentication required/);
  });
});

describe('registry: bearer tokens', { skip }, () => {
  test('push and pull through the token flow, with pull and pull,push scopes; a mount asks for the source too', async (t) => {
    const tokens = await startTokenServer(t);
    const registry = await startRegistry(t, { kind: 'token', token: tokens });
    const credentials = { username: REGISTRY_USER, password: REGISTRY_PASSWORD };
    const { source, ref, manifestDigest } = await pushFixture(t, registry.host, { credentials });
    assert.ok(tokens.log.some((l) => l.granted && l.scopes.includes('repository:berth/busybox:pull,push')), JSON.stringify(tokens.log));
    const store = tempStore(t);
    const record = await pullImage(store, ref, { credentials });
    assert.equal(record.manifest.digest, manifestDigest);
    assert.ok(tokens.log.some((l) => l.granted && l.scopes.length === 1 && l.scopes[0] === 'repository:berth/busybox:pull'));
    const events: PushEvent[] = [];
    await pushImage(source, FIXTURE_REF, `${registry.host}/team/busybox:1`, { credentials, onEvent: (e) => events.push(e) });
    assert.equal(events.filter((e) => e.type === 'mounted').length, 3, JSON.stringify(events));
    assert.ok(tokens.log.some((l) => l.scopes.includes('repository:team/busybox:pull,push') && l.scopes.includes('repository:berth/busybox:pull')));

    // login through the token flow, by the CLI
    const config = tempDir(t, 'docker-config');
    const env = { BERTH_ROOT: tempDir(t, 'root'), DOCKER_CONFIG: config };
    assert.equal(ok(await berth({ ...env, STDIN: REGISTRY_PASSWORD }, 'login', '-u', REGISTRY_USER, '--password-stdin', registry.host)), 'Login Succeeded\n');
    assert.match(ok(await berth(env, 'pull', ref)), new RegExp(`Digest: ${manifestDigest}\n$`));
  });

  test('token refused: wrong password, or a token server that says no; the store unchanged', async (t) => {
    const tokens = await startTokenServer(t);
    const registry = await startRegistry(t, { kind: 'token', token: tokens });
    const { ref } = await pushFixture(t, registry.host, { credentials: { username: REGISTRY_USER, password: REGISTRY_PASSWORD } });
    const store = tempStore(t);
    const before = snapshot(store);
    await assert.rejects(
      pull(store, ref, { credentials: { username: REGISTRY_USER, password: 'wrong' } }),
      new RegExp(`unauthorized: token server http://127\\.0\\.0\\.1:\\d+ refused: wrong username or password \\(401\\)`),
    );
    tokens.refuseAll = true;
    const config = tempDir(t, 'docker-config');
    writeFileSync(join(config, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${REGISTRY_USER}:${REGISTRY_PASSWORD}`).toString('base64') } } }));
    const r = await berth({ BERTH_ROOT: store.root, DOCKER_CONFIG: config }, 'pull', ref);
    assert.equal(r.status, 125);
    assert.match(r.stderr, new RegExp(`^berth: pull ${ref}: unauthorized: token server http://127\\.0\\.0\\.1:\\d+ refused: wrong username or password \\(401\\)\n$`));
    assert.deepEqual(snapshot(store), before);
  });
});
