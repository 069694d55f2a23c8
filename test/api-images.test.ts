// The Engine API's image endpoints, driven by the real docker CLIs (Debian's 20.10 and, where
// installed, docker 28) against `berth system service`: push to a local registry (X-Registry-Auth,
// and never root's stored credentials without it), save and load, history, commit and import with
// --change, image prune with filters, and search refused; answers checked against Docker's swagger.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { saveHostNetwork } from './helpers/host-network.js';
import { BERTH, berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startRegistry } from './helpers/registry.js';
import { SWAGGER_MISSING_REASON, swaggerAvailable, validateDefinition, validateResponse } from './helpers/docker-swagger.js';
import { DEBIAN_DOCKER, DOCKER_CLIS, dockerCli, httpGet, rawRequest, startService } from './helpers/api-service.js';

const skip = !busyboxAvailable()
  ? BUSYBOX_MISSING_REASON
  : !existsSync(DEBIAN_DOCKER)
    ? `${DEBIAN_DOCKER} not found (apt-get install docker.io)`
    : !swaggerAvailable()
      ? SWAGGER_MISSING_REASON
      : !registryAvailable()
        ? 'docker-registry not found (apt-get install docker-registry)'
        : false;

after(saveHostNetwork());

async function httpJson(url: string): Promise<unknown> {
  return JSON.parse(await httpGet(url));
}

test('docker push, save, load, history, commit, import and image prune through the API', { skip }, async (t) => {
  const root = berthRoot(t, 'api-img');
  const { berth } = root;
  // The service's own docker config holds root's credentials for the locked registry: a client
  // without X-Registry-Auth must never be lent them.
  const serviceConfig = mkdtempSync('/tmp/berth-test-service-config-');
  t.after(() => rmSync(serviceConfig, { recursive: true, force: true }));
  const env = { ...root.env, DOCKER_CONFIG: serviceConfig };
  const registry = await startRegistry(t);
  const locked = await startRegistry(t, { kind: 'htpasswd' });
  const rootfs = busyboxRootfsTar(t);
  ok(berth('import', rootfs, 'busybox:latest'));
  const login = spawnSync(process.execPath, [BERTH, 'login', '-u', REGISTRY_USER, '--password-stdin', locked.host], { env, input: REGISTRY_PASSWORD, encoding: 'utf8' });
  assert.equal(login.status, 0, login.stderr);
  const service = await startService(t, env);
  const raw = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}) => rawRequest(service.socket, method, path, body, headers);
  const json = async (path: string): Promise<unknown> => JSON.parse((await raw('GET', path)).body);

  for (const [i, bin] of DOCKER_CLIS.entries()) {
    const docker = dockerCli(t, service.socket, bin);
    const dir = mkdtempSync('/tmp/berth-test-api-img-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));

    // push: docker's progress, the digest; the registry has the tag.
    const name = `${registry.host}/test/pushed:${i}`;
    ok(docker('tag', 'busybox', name));
    const pushed = ok(docker('push', name));
    assert.match(pushed, /The push refers to repository \[127\.0\.0\.1:\d+\/test\/pushed\]/, bin);
    assert.match(pushed, new RegExp(`${i}: digest: sha256:[0-9a-f]{64} size: \\d+`), bin);
    assert.deepEqual(((await httpJson(`http://${registry.host}/v2/test/pushed/tags/list`)) as { tags: string[] }).tags.includes(String(i)), true, bin);

    // save | load: the same image back under its name.
    const id = ok(docker('image', 'inspect', '--format', '{{.Id}}', name)).trim();
    ok(docker('save', '-o', join(dir, 'saved.tar'), name));
    ok(docker('rmi', name));
    assert.equal(docker('image', 'inspect', name).status, 1, bin);
    assert.equal(ok(docker('load', '-i', join(dir, 'saved.tar'))), `Loaded image: ${name}\n`, bin);
    assert.equal(ok(docker('image', 'inspect', '--format', '{{.Id}}', name)).trim(), id, bin);
    assert.equal(ok(docker('load', '-q', '-i', join(dir, 'saved.tar'))), `Loaded image: ${name}\n`, bin);
    ok(docker('rmi', name));

    // history: the import's entry, the image's own id on top.
    const history = ok(docker('history', '--no-trunc', '--format', '{{.ID}}|{{.Comment}}', 'busybox'));
    assert.match(history, /^sha256:[0-9a-f]{64}\|imported from /, bin);
  }
  const docker = dockerCli(t, service.socket);
  const dir = mkdtempSync('/tmp/berth-test-api-img-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // Every tag of a repository (docker push -a); the saved archive of two images at once.
  ok(docker('tag', 'busybox', `${registry.host}/test/all:a`));
  ok(docker('tag', 'busybox', `${registry.host}/test/all:b`));
  ok(docker('push', '--all-tags', `${registry.host}/test/all`));
  assert.deepEqual(((await httpJson(`http://${registry.host}/v2/test/all/tags/list`)) as { tags: string[] }).tags.sort(), ['a', 'b']);
  const both = await raw('GET', `/v1.41/images/get?names=${encodeURIComponent(`${registry.host}/test/all:a`)}&names=busybox`);
  assert.equal(both.status, 200);
  assert.equal(both.headers['content-type'], 'application/x-tar');
  assert.equal((await raw('GET', '/v1.41/images/no-such/get')).status, 404);

  // Without X-Registry-Auth, the service's stored login is not lent: the push fails; with it, it goes.
  ok(docker('tag', 'busybox', `${locked.host}/test/locked:1`));
  const anonymous = docker('push', `${locked.host}/test/locked:1`);
  assert.notEqual(anonymous.status, 0);
  assert.match(anonymous.stderr + anonymous.stdout, /unauthorized|authentication required/);
  const auth = Buffer.from(JSON.stringify({ username: REGISTRY_USER, password: REGISTRY_PASSWORD })).toString('base64url');
  const withAuth = await raw('POST', `/v1.41/images/${locked.host}/test/locked/push?tag=1`, undefined, { 'X-Registry-Auth': auth });
  assert.equal(withAuth.status, 200);
  assert.doesNotMatch(withAuth.body, /"error"/, withAuth.body);
  assert.match(withAuth.body, /"aux":\{"Tag":"1","Digest":"sha256:/);

  // commit: a running container paused for it and running after; --change and -m and -a kept.
  ok(docker('run', '-d', '--name', 'box', 'busybox', 'sh', '-c', 'echo made-in-box > /made; exec sleep 1000'));
  for (let n = 0; docker('exec', 'box', 'test', '-f', '/made').status !== 0; n++) assert.ok(n < 200, 'the container did not write /made');
  const committed = ok(docker('commit', '-c', 'ENV MADE=commit', '-c', 'CMD ["cat", "/made"]', '-m', 'a message', '-a', 'An Author', 'box', 'committed:1')).trim();
  assert.match(committed, /^sha256:[0-9a-f]{64}$/);
  assert.equal(ok(docker('inspect', '--format', '{{.State.Status}}', 'box')).trim(), 'running');
  assert.equal(ok(docker('run', '--rm', 'committed:1')), 'made-in-box\n');
  assert.match(ok(docker('image', 'inspect', '--format', '{{.Author}} {{json .Config.Env}}', 'committed:1')), /^An Author \[.*"MADE=commit"\]/);
  assert.match(ok(docker('history', '--format', '{{.Comment}}', 'committed:1')), /^a message\n/);
  const run = docker('commit', '-c', 'RUN echo no', 'box', 'refused:1');
  assert.notEqual(run.status, 0);
  assert.match(run.stderr, /run is not a valid change command/);
  const withConfig = await raw('POST', '/v1.41/commit?container=box', JSON.stringify({ Cmd: ['x'] }), { 'Content-Type': 'application/json' });
  assert.deepEqual([withConfig.status, JSON.parse(withConfig.body).message], [400, 'Cmd: berth does not take a config in the body of a commit (use changes)']);
  const dangling = await raw('POST', '/v1.41/commit?container=box&pause=0');
  assert.equal(dangling.status, 201);
  assert.deepEqual(validateResponse('/commit', 'post', 201, JSON.parse(dangling.body)), []);
  ok(docker('rm', '-f', 'box'));

  // import from stdin, with changes; a URL source is refused.
  const imported = spawnSync(DEBIAN_DOCKER, ['import', '-c', 'ENV FROM=import', '-c', 'LABEL team=a', '-m', 'from stdin', '-', 'imported:1'], {
    input: readFileSync(rootfs),
    encoding: 'utf8',
    env: { PATH: process.env.PATH, DOCKER_HOST: `unix://${service.socket}`, DOCKER_CONFIG: dir },
  });
  assert.equal(imported.status, 0, imported.stderr);
  assert.match(imported.stdout, /^sha256:[0-9a-f]{64}\n$/);
  assert.equal(ok(docker('run', '--rm', 'imported:1', 'sh', '-c', 'echo $FROM')), 'import\n');
  assert.match(ok(docker('history', '--format', '{{.Comment}}', 'imported:1')), /^from stdin\n$/);
  assert.equal((await raw('POST', '/v1.41/images/create?fromSrc=http%3A%2F%2Fexample.com%2Fx.tar')).status, 501);

  // history and prune as Docker defines them; prune: the dangling commit goes, then by label.
  assert.deepEqual(validateResponse('/images/{name}/history', 'get', 200, await json('/v1.41/images/committed:1/history')), []);
  const pruned = ok(docker('image', 'prune', '-f'));
  assert.match(pruned, new RegExp(`deleted: ${JSON.parse(dangling.body).Id}`));
  assert.match(ok(docker('image', 'prune', '-a', '-f', '--filter', 'until=1h')), /Total reclaimed space: 0B/);
  const byLabel = await raw('POST', `/v1.41/images/prune?filters=${encodeURIComponent(JSON.stringify({ dangling: ['false'], label: ['team=a'] }))}`);
  assert.equal(byLabel.status, 200);
  const byLabelBody = JSON.parse(byLabel.body);
  assert.deepEqual(validateResponse('/images/prune', 'post', 200, byLabelBody), []);
  assert.deepEqual(byLabelBody.ImagesDeleted[0], { Untagged: 'imported:1' });
  assert.equal(docker('image', 'inspect', 'imported:1').status, 1);
  assert.equal(ok(docker('image', 'inspect', '--format', '{{.Id}}', 'committed:1')).trim(), committed, 'an image without the label stays');
  assert.equal((await raw('POST', `/v1.41/images/prune?filters=${encodeURIComponent(JSON.stringify({ nosuch: ['x'] }))}`)).status, 400);
  assert.equal((await raw('POST', `/v1.41/images/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['yesterday-ish'] }))}`)).status, 400);
  // docker system prune: containers, networks, images, then the build cache (POST /build/prune).
  assert.match(ok(docker('system', 'prune', '-f')), /Total reclaimed space/);
  const cache = await raw('POST', '/v1.41/build/prune');
  assert.deepEqual([cache.status, Object.keys(JSON.parse(cache.body))], [200, ['CachesDeleted', 'SpaceReclaimed']]);
  // berth's own image prune takes the same filters.
  assert.match(ok(berth('image', 'prune', '-a', '--filter', 'until=1h', '--filter', 'label!=team=b')), /^Total reclaimed space: 0 ?B\n$/);
  assert.equal(berth('image', 'prune', '--filter', 'nosuch=1').status, 125);

  // search: refused with a message.
  const search = docker('search', 'busybox');
  assert.notEqual(search.status, 0);
  assert.match(search.stderr, /berth searches no registry/);
  assert.deepEqual(validateDefinition('ImageDeleteResponseItem', byLabelBody.ImagesDeleted[0]), []);
});
