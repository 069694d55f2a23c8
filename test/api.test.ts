// The Docker Engine API (`berth system service`), driven by the real docker CLIs (Debian's
// docker.io 20.10 and, where installed, docker 28) over a unix socket: version negotiation,
// info, images and containers of the same store as the berth CLI, Docker's error shapes and
// statuses, and the socket's owner, mode and lifetime.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { saveHostNetwork } from './helpers/host-network.js';
import { berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { freePort, startRegistry } from './helpers/registry.js';
import { SWAGGER_MISSING_REASON, swaggerAvailable, validateDefinition, validateResponse } from './helpers/docker-swagger.js';
import { waitFor } from './helpers/run.js';
import { DEBIAN_DOCKER, DOCKER_CLIS, dockerCli, httpGet, rawBytes, rawRequest, startService } from './helpers/api-service.js';

const COMPOSE = '/usr/bin/docker-compose';
const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !existsSync(DEBIAN_DOCKER) ? `${DEBIAN_DOCKER} not found (apt-get install docker.io)` : !swaggerAvailable() ? SWAGGER_MISSING_REASON : false;

// Containers are on bridges: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

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
    // tag and rmi: a second name goes alone; the image a container uses stays (409).
    ok(docker('tag', 'busybox', 'mine:1'));
    assert.match(ok(docker('images', '--format', '{{.Repository}}:{{.Tag}}')), /^mine:1$/m, bin);
    assert.equal(ok(docker('rmi', 'mine:1')), 'Untagged: mine:1\n', bin);
    assert.match(ok(docker('images', '--format', '{{.Repository}}:{{.Tag}}')), /^busybox:latest\n$/, bin);
    const inUse = docker('rmi', 'busybox');
    assert.notEqual(inUse.status, 0, bin);
    assert.match(inUse.stderr, /unable to remove image busybox: container made-by-berth uses it/, bin);

    // Errors in docker's words: the message the engine gave, a failure exit.
    const missing = docker('inspect', '--type', 'container', 'no-such');
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /No such container: no-such/, bin);
  }

  // The answers conform to Docker's own definition of them.
  const json = async (path: string): Promise<unknown> => JSON.parse((await rawRequest(service.socket, 'GET', path)).body);
  assert.deepEqual(validateResponse('/version', 'get', 200, await json('/v1.41/version')), []);
  assert.deepEqual(validateDefinition('SystemInfo', await json('/v1.41/info')), []);
  assert.deepEqual(validateResponse('/containers/json', 'get', 200, await json('/v1.41/containers/json?all=1')), []);
  assert.deepEqual(validateResponse('/containers/{id}/json', 'get', 200, await json(`/v1.41/containers/${id}/json`)), []);
  assert.deepEqual(validateResponse('/images/json', 'get', 200, await json('/v1.41/images/json')), []);
  assert.deepEqual(validateDefinition('Image', await json('/v1.41/images/busybox/json')), []);

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

test('docker run, logs -f, exec, stop, kill, wait, start -a, rm and pull through the API; the berth CLI sees the same containers', { skip }, async (t) => {
  const { env, berth, root } = berthRoot(t, 'api-run');
  const registry = await startRegistry(t);
  const image = `${registry.host}/test/busybox:1`;
  ok(berth('import', busyboxRootfsTar(t), image));
  ok(berth('push', image));
  ok(berth('rmi', image));
  ok(berth('image', 'prune', '-a')); // its blobs too: the pull downloads them
  const service = await startService(t, env);
  const docker = dockerCli(t, service.socket);
  const dockerEnv = { PATH: process.env.PATH, TERM: 'xterm', DOCKER_HOST: `unix://${service.socket}`, DOCKER_CONFIG: mkdtempSync('/tmp/berth-test-docker-config-') };
  t.after(() => rmSync(dockerEnv.DOCKER_CONFIG, { recursive: true, force: true }));

  // A pull with docker's JSON progress, then run: the output demultiplexed, the exit status kept.
  const pulled = ok(docker('pull', image));
  assert.match(pulled, /Pull complete/);
  assert.match(pulled, /Status: Downloaded newer image for 127\.0\.0\.1:\d+\/test\/busybox:1/);
  const run = docker('run', '--rm', image, 'sh', '-c', 'echo out; echo err >&2; exit 3');
  assert.deepEqual([run.status, run.stdout, run.stderr], [3, 'out\n', 'err\n']);
  assert.equal(ok(berth('ps', '-aq')), '', '--rm left the container');

  // Detached: berth's CLI sees it; logs, logs -f until the stop, exec with its status and stdin.
  const id = ok(docker('run', '-d', '--name', 'web', image, 'sh', '-c', 'echo started; trap "echo bye; exit 0" TERM; while true; do sleep 0.1; done')).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(ok(berth('ps', '--format', '{{.Names}} {{.State}}')), 'web running\n');
  await waitFor('the first line in the log', () => docker('logs', 'web').stdout === 'started\n', 10_000);
  const follow = spawn(DEBIAN_DOCKER, ['logs', '-f', 'web'], { env: dockerEnv });
  let followed = '';
  follow.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const followExit = new Promise((resolve) => follow.once('exit', resolve));
  const exec = docker('exec', 'web', 'sh', '-c', 'echo in-exec; echo to-stderr >&2; exit 7');
  assert.deepEqual([exec.status, exec.stdout, exec.stderr], [7, 'in-exec\n', 'to-stderr\n']);
  const execIn = spawnSync(DEBIAN_DOCKER, ['exec', '-i', 'web', 'cat'], { input: 'through stdin\n', encoding: 'utf8', env: dockerEnv });
  assert.equal(execIn.stdout, 'through stdin\n');
  ok(docker('stop', 'web'));
  assert.equal(await followExit, 0, 'logs -f ends when the container stops');
  assert.equal(followed, 'started\nbye\n');
  assert.equal(ok(docker('wait', 'web')), '0\n');
  assert.equal(ok(berth('ps', '-a', '--format', '{{.Names}} {{.Status}}')).split(' (')[0], 'web Exited');

  // Started again, killed: 137; then removed.
  ok(docker('start', 'web'));
  ok(docker('kill', 'web'));
  assert.equal(ok(docker('wait', 'web')), '137\n');
  ok(docker('rm', 'web'));
  assert.equal(ok(berth('ps', '-aq')), '');

  // create + start -a, both ways between the CLIs.
  ok(docker('create', '--name', 'made', image, 'echo', 'created by docker'));
  assert.equal(ok(berth('start', '-a', 'made')), 'created by docker\n');
  ok(berth('create', '--name', 'made2', image, 'sh', '-c', 'echo created by berth; exit 2'));
  const startA = docker('start', '-a', 'made2');
  assert.deepEqual([startA.status, startA.stdout], [2, 'created by berth\n']);
  ok(docker('rm', 'made', 'made2'));

  // -it: a terminal, its exit status; exec -it into it, under a pty of script(1).
  for (const bin of DOCKER_CLIS) {
    const tty = spawnSync('script', ['-eqc', `${bin} run --rm -it ${image} sh -c 'tty; exit 4'`, '/dev/null'], { encoding: 'utf8', env: dockerEnv });
    assert.equal(tty.status, 4, `${bin}: ${tty.stdout}`);
    assert.match(tty.stdout, /\/dev\/pts\/0/);
  }
  ok(docker('run', '-d', '--name', 'sleeper', image, 'sleep', '1000'));
  const execTty = spawnSync('script', ['-eqc', `${DEBIAN_DOCKER} exec -it sleeper sh -c 'tty; exit 5'`, '/dev/null'], { encoding: 'utf8', env: dockerEnv });
  assert.equal(execTty.status, 5, execTty.stdout);
  assert.match(execTty.stdout, /\/dev\/pts\/\d+/);

  // Requests no CLI sends: an unsupported setting is refused by name, a bad or huge body is a 400.
  const create = (body: string) => rawRequest(service.socket, 'POST', '/v1.41/containers/create', body, { 'Content-Type': 'application/json' });
  const shares = await create(JSON.stringify({ Image: image, HostConfig: { CpuShares: 512 } }));
  assert.deepEqual([shares.status, JSON.parse(shares.body).message], [400, 'HostConfig.CpuShares: berth does not support it']);
  // --cidfile is the client's to write (dockerd ignores the field); --cgroupns host is not berth's: refused by name.
  const cidFile = join(dockerEnv.DOCKER_CONFIG, 'cid');
  ok(docker('run', '--rm', '--cidfile', cidFile, image, 'true'));
  assert.match(readFileSync(cidFile, 'utf8'), /^[0-9a-f]{64}$/);
  const hostCgroupns = docker('run', '--rm', '--cgroupns', 'host', image, 'true');
  assert.equal(hostCgroupns.status, 125);
  assert.match(hostCgroupns.stderr, /HostConfig\.CgroupnsMode "host": berth does not support it/);
  assert.equal((await create('{"Image": ')).status, 400);
  assert.equal((await create(JSON.stringify({ Image: image, Env: ['x'.repeat(2 << 20)] }))).status, 400);
  const noImage = await create(JSON.stringify({ Image: 'no/such:image' }));
  assert.deepEqual([noImage.status, JSON.parse(noImage.body).message], [404, 'No such image: no/such:image']);

  // Stopping the service stops no container, and leaves no exit file behind.
  assert.equal(await service.stop(), 0);
  assert.equal(ok(berth('ps', '--format', '{{.Names}} {{.State}}')), 'sleeper running\n');
  ok(berth('rm', '-f', 'sleeper'));
  assert.deepEqual(readdirSync(join(root, 'exits')), []);
});

test('docker cp, docker network and volume, and docker-compose: two services by name on a network, a volume, a published port, down leaves nothing', { skip: skip || (!existsSync(COMPOSE) && `${COMPOSE} not found (apt-get install docker-compose)`) }, async (t) => {
  const { env, berth } = berthRoot(t, 'api-compose');
  ok(berth('import', busyboxRootfsTar(t), 'busybox:latest'));
  const service = await startService(t, env);
  const docker = dockerCli(t, service.socket);
  const dir = mkdtempSync('/tmp/berth-test-compose-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  // docker cp both ways, and a symlink in the container that aims at the host stays inside it.
  ok(docker('run', '-d', '--name', 'box', 'busybox', 'sh', '-c', 'echo inside > /etc/motd; ln -s /etc /escape; exec sleep 1000'));
  await waitFor('the container to write its files', () => docker('exec', 'box', 'test', '-L', '/escape').status === 0, 10_000);
  ok(docker('cp', 'box:/etc/motd', join(dir, 'motd')));
  assert.equal(readFileSync(join(dir, 'motd'), 'utf8'), 'inside\n');
  writeFileSync(join(dir, 'upload'), 'from the host\n');
  ok(docker('cp', join(dir, 'upload'), 'box:/escape/uploaded'));
  assert.equal(ok(docker('exec', 'box', 'cat', '/etc/uploaded')), 'from the host\n', 'the symlink was followed inside the container');
  assert.equal(existsSync('/etc/uploaded'), false, 'docker cp wrote to the host');
  assert.match(docker('cp', 'box:/no/such', dir).stderr, /No such container:path: box:\/no\/such/);
  ok(docker('rm', '-f', 'box'));

  // networks and volumes, listed by docker and berth alike.
  ok(docker('network', 'create', '--label', 'made=api', 'apinet'));
  assert.match(ok(berth('network', 'ls')), /apinet/);
  assert.equal(ok(docker('network', 'inspect', '--format', '{{.Name}} {{.Driver}} {{.Labels}}', 'apinet')).trim(), 'apinet bridge map[made:api]');
  ok(docker('volume', 'create', 'apivol'));
  assert.equal(ok(berth('volume', 'ls', '-q')), 'apivol\n');
  assert.equal(ok(docker('volume', 'inspect', '--format', '{{.Name}} {{.Driver}}', 'apivol')).trim(), 'apivol local');
  const json = async (path: string): Promise<unknown> => JSON.parse((await rawRequest(service.socket, 'GET', path)).body);
  assert.deepEqual(validateResponse('/networks', 'get', 200, await json('/v1.41/networks')), []);
  assert.deepEqual(validateDefinition('Network', await json('/v1.41/networks/apinet')), []);
  assert.deepEqual(validateResponse('/volumes', 'get', 200, await json('/v1.41/volumes')), []);
  assert.deepEqual(validateDefinition('Volume', await json('/v1.41/volumes/apivol')), []);
  ok(docker('volume', 'rm', 'apivol'));
  ok(docker('network', 'rm', 'apinet'));

  // compose: web serves a page from its volume on a published port; client reaches it by name.
  const port = await freePort();
  writeFileSync(
    join(dir, 'docker-compose.yml'),
    [
      'version: "3.8"',
      'services:',
      '  web:',
      '    image: busybox',
      "    command: sh -c 'echo hello-from-web > /www/index.html; exec httpd -f -p 80 -h /www'",
      '    volumes: ["www:/www"]',
      `    ports: ["${port}:80"]`,
      '  client:',
      '    image: busybox',
      "    command: sh -c 'until wget -qO- http://web/; do sleep 0.2; done; exec sleep 1000'",
      '    depends_on: [web]',
      'volumes:',
      '  www:',
      '',
    ].join('\n'),
  );
  const compose = (...args: string[]) => {
    const r = spawnSync(COMPOSE, ['-p', 'apitest', ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, HOME: dir, DOCKER_HOST: `unix://${service.socket}` } });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  ok(compose('up', '-d'));
  assert.match(ok(compose('ps')), /apitest_web_1 .* Up .*0\.0\.0\.0:\d+->80\/tcp/);
  await waitFor('the client to reach web by name', () => compose('logs', 'client').stdout.includes('hello-from-web'), 30_000);
  assert.equal(await httpGet(`http://127.0.0.1:${port}/`), 'hello-from-web\n');
  assert.equal(ok(berth('ps', '--format', '{{.Names}}')).split('\n').filter(Boolean).sort().join(' '), 'apitest_client_1 apitest_web_1');
  // A container with a published port, a volume and a user network, as Docker defines it.
  assert.deepEqual(validateResponse('/containers/json', 'get', 200, await json('/v1.41/containers/json')), []);
  assert.deepEqual(validateResponse('/containers/{id}/json', 'get', 200, await json('/v1.41/containers/apitest_web_1/json')), []);
  ok(compose('down', '-v'));
  assert.equal(ok(berth('ps', '-aq')), '');
  assert.equal(ok(berth('volume', 'ls', '-q')), '');
  assert.doesNotMatch(ok(berth('network', 'ls')), /apitest/);
});
