// The Docker Engine API (`berth system service`), driven by the real docker CLIs (Debian's
// docker.io 20.10 and, where installed, docker 28) over a unix socket: version negotiation,
// info, images and containers of the same store as the berth CLI, Docker's error shapes and
// statuses, and the socket's owner, mode and lifetime.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { DEBIAN_DOCKER, DOCKER_CLIS, dockerCli, rawBytes, rawRequest, startService } from './helpers/api-service.js';

const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !existsSync(DEBIAN_DOCKER) ? `${DEBIAN_DOCKER} not found (apt-get install docker.io)` : false;

function groupId(name: string): number | undefined {
  try {
    return Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);
  } catch {
    return undefined;
  }
}

test('system service: docker version, info, images, ps and inspect show berth\'s store', { skip }, async (t) => {
  const { env, berth } = berthRoot(t, 'api');
  ok(berth('import', busyboxRootfsTar(t), 'busybox:latest'));
  const id = ok(berth('create', '--name', 'made-by-berth', '--label', 'who=berth', 'busybox', 'echo', 'hi')).trim();
  const service = await startService(t, env);

  // The socket: root's, 0660, group docker (or berth) when there is one.
  const st = statSync(service.socket);
  assert.equal(st.mode & 0o777, 0o660);
  assert.equal(st.uid, 0);
  assert.equal(st.gid, groupId('docker') ?? groupId('berth') ?? 0);

  for (const bin of DOCKER_CLIS) {
    const docker = dockerCli(t, service.socket, bin);
    // Each CLI negotiates down to 1.41 (docker 28 asks for 1.50 first).
    assert.equal(ok(docker('version', '--format', '{{.Server.APIVersion}} {{.Server.Version}}')).trim(), '1.41 0.1.0', bin);
    assert.equal(ok(docker('info', '--format', '{{.Images}} {{.Containers}} {{.ContainersStopped}} {{.OSType}}')).trim(), '1 1 1 linux', bin);
    assert.match(ok(docker('images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}')), /^busybox:latest [0-9a-f]{12}\n$/, bin);
    assert.equal(ok(docker('ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}} {{.Status}} {{.Command}} {{.Labels}}')), `${id} made-by-berth Created "echo hi" who=berth\n`, bin);
    assert.equal(ok(docker('ps', '-q')), '', `${bin}: ps without -a shows only running containers`);
    assert.equal(ok(docker('ps', '-aq', '--filter', 'label=who=berth', '--filter', 'status=created')).trim(), id.slice(0, 12), bin);
    assert.equal(ok(docker('inspect', '--format', '{{.Name}} {{.State.Status}} {{.Config.Image}}', 'made-by-berth')).trim(), '/made-by-berth created busybox', bin);
    assert.match(ok(docker('image', 'inspect', '--format', '{{.Id}} {{.Os}}', 'busybox')), /^sha256:[0-9a-f]{64} linux\n$/, bin);
    // Errors in docker's words: the message the engine gave, a failure exit.
    const missing = docker('inspect', '--type', 'container', 'no-such');
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /No such container: no-such/, bin);
  }

  // What no CLI sends: the version prefix checked, Docker's endpoints berth lacks are 501, others 404.
  const ping = await rawRequest(service.socket, 'HEAD', '/_ping');
  assert.equal(ping.status, 200);
  assert.equal(ping.headers['api-version'], '1.41');
  assert.equal((await rawRequest(service.socket, 'GET', '/v1.41/_ping')).body, 'OK');
  const tooNew = await rawRequest(service.socket, 'GET', '/v1.99/info');
  assert.equal(tooNew.status, 400);
  assert.deepEqual(JSON.parse(tooNew.body), { message: 'client version 1.99 is too new. Maximum supported API version is 1.41' });
  assert.equal((await rawRequest(service.socket, 'GET', '/v1.12/info')).status, 400);
  const unimplemented = await rawRequest(service.socket, 'GET', '/v1.41/swarm');
  assert.equal(unimplemented.status, 501);
  assert.match(JSON.parse(unimplemented.body).message, /does not implement GET \/swarm/);
  assert.equal((await rawRequest(service.socket, 'GET', '/no/such/thing')).status, 404);
  // A path parameter that decodes to a path leads nowhere.
  const escape = await rawRequest(service.socket, 'GET', '/containers/..%2F..%2Fetc%2Fpasswd/json');
  assert.equal(escape.status, 404);
  assert.equal((await rawRequest(service.socket, 'GET', '/containers/json?filters=%7Bnot-json')).status, 400);
  assert.equal((await rawRequest(service.socket, 'GET', '/containers/json?filters=%7B%22nosuch%22%3A%5B%22x%22%5D%7D')).status, 400);
  // A request that is not HTTP gets a 400 and the service goes on.
  assert.match(await rawBytes(service.socket, 'NOT HTTP\r\n\r\n'), /^HTTP\/1\.1 400/);
  assert.equal((await rawRequest(service.socket, 'GET', '/_ping')).status, 200);

  // SIGTERM ends the service, its socket goes with it, and berth's container is as it was.
  assert.equal(await service.stop(), 0);
  assert.equal(existsSync(service.socket), false, 'the socket was left behind');
  assert.match(ok(berth('ps', '-a', '--format', '{{.Names}} {{.State}}')), /^made-by-berth created$/m);

  // Without --time 0 the service ends by itself once idle (here after a second).
  const idle = await startService(t, env, ['--time', '1']);
  assert.equal(ok(dockerCli(t, idle.socket)('version', '--format', '{{.Server.APIVersion}}')).trim(), '1.41');
  assert.equal(await idle.exited, 0);
  assert.equal(existsSync(idle.socket), false);
});
