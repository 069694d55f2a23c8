// `POST /build` (berth system service) driven by the real clients: `docker build` of Debian's
// docker.io 20.10 (the classic builder by default) and of docker 28 where installed (no buildx
// here: its legacy builder, after its deprecation warning), docker-compose 1.29's `build:` through
// docker-py, and a client that goes away mid-RUN. After each: no container, mount or cgroup of the
// build left, no dangling image.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ImageStore } from '../src/image/index.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { berthRoot, hostMountsMentioning, ok, type BerthRoot } from './helpers/berth-cli.js';
import { buildTestImage, busyboxAvailable, BUSYBOX_MISSING_REASON, makeTar } from './helpers/image-fixture.js';
import { cgroupsMentioning, waitFor } from './helpers/run.js';
import { DEBIAN_DOCKER, DOCKER_CLIS, startService } from './helpers/api-service.js';

const COMPOSE = '/usr/bin/docker-compose';
const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !existsSync(DEBIAN_DOCKER) ? `${DEBIAN_DOCKER} not found (apt-get install docker.io)` : false;

// RUN is on no network (networkmode=none: the default bridge is build.test.ts's); ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

function leftovers(b: BerthRoot): { containers: string; dangling: string } {
  return { containers: ok(b.berth('ps', '-aq')), dangling: ok(b.berth('images')).split('\n').filter((l) => l.startsWith('<none>')).join('\n') };
}

/** A client run with its own config dir against the service, and extra environment (DOCKER_BUILDKIT…). */
function client(t: { after: (fn: () => void) => void }, socket: string) {
  const home = mkdtempSync('/tmp/berth-test-docker-config-');
  t.after(() => rmSync(home, { recursive: true, force: true }));
  return (bin: string, args: string[], env: Record<string, string> = {}, cwd?: string) => {
    const r = spawnSync(bin, args, { cwd, env: { PATH: process.env.PATH, HOME: home, DOCKER_CONFIG: home, DOCKER_HOST: `unix://${socket}`, ...env }, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

test('docker build through the API: both CLIs, args, labels, -f outside the context, -q and --iidfile, a failing RUN\'s status, refusals; compose up builds', { skip }, async (t) => {
  const b = berthRoot(t, 'api-build');
  await buildTestImage(new ImageStore(b.root), 'busybox:latest');
  const service = await startService(t, b.env);
  const run = client(t, service.socket);
  const dir = mkdtempSync('/tmp/berth-test-api-build-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'ctx'));
  writeFileSync(join(dir, 'ctx', 'data.txt'), 'from the context\n');
  writeFileSync(join(dir, 'ctx', 'Dockerfile'), 'FROM busybox\nARG WHO=nobody\nRUN echo "built for $WHO" > /msg\nCOPY data.txt /data.txt\nCMD ["cat", "/msg", "/data.txt"]\n');
  // A Dockerfile outside the context: the CLI appends it to the context's tar, which then ends without end-of-archive blocks.
  writeFileSync(join(dir, 'Outside.dockerfile'), 'FROM busybox\nCOPY data.txt /outside.txt\n');

  for (const [n, bin] of DOCKER_CLIS.entries()) {
    const docker = (...args: string[]) => run(bin, args);
    const built = docker('build', '--network', 'none', '-t', `api-built:${n}`, '--build-arg', `WHO=${n}`, '--label', 'via=api', join(dir, 'ctx'));
    assert.equal(built.status, 0, `${bin}: ${built.stderr}`);
    assert.match(built.stdout, /Step 1\/6 : FROM busybox\n ---> [0-9a-f]{12}\n/, bin);
    assert.match(built.stdout, /Step 6\/6 : LABEL via=api\n/, bin);
    assert.match(built.stdout, / ---> Running in [0-9a-f]{12}\n/, bin);
    assert.match(built.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged api-built:\d\n$/, bin);
    assert.equal(ok(docker('run', '--rm', '--network', 'none', `api-built:${n}`)), `built for ${n}\nfrom the context\n`, bin);
    assert.equal(ok(docker('image', 'inspect', '--format', '{{index .Config.Labels "via"}}', `api-built:${n}`)).trim(), 'api', bin);

    const iid = join(dir, `iid-${n}`);
    const quiet = docker('build', '-q', '--iidfile', iid, '-t', `api-quiet:${n}`, '-f', join(dir, 'Outside.dockerfile'), join(dir, 'ctx'));
    assert.equal(quiet.status, 0, `${bin}: ${quiet.stderr}`);
    assert.match(quiet.stdout, /^sha256:[0-9a-f]{64}\n$/, bin);
    assert.equal(readFileSync(iid, 'utf8').trim(), quiet.stdout.trim(), bin); // with -q the CLI writes the id as the stream gave it, newline and all

    // A failing RUN: the CLI exits with its status (errorDetail.code), with docker's message.
    writeFileSync(join(dir, 'Failing.dockerfile'), 'FROM busybox\nRUN echo failing && exit 3\n');
    const failed = docker('build', '--network', 'none', '-f', join(dir, 'Failing.dockerfile'), join(dir, 'ctx'));
    assert.equal(failed.status, 3, `${bin}: ${failed.stderr}`);
    assert.match(failed.stdout, /failing\n/, bin);
    assert.match(failed.stderr, /The command '\/bin\/sh -c echo failing && exit 3' returned a non-zero code: 3\n$/, bin);
  }
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });

  // What the classic builder cannot do is refused by name, before any work.
  const memory = run(DEBIAN_DOCKER, ['build', '--memory', '64m', join(dir, 'ctx')]);
  assert.equal(memory.status, 1);
  assert.match(memory.stderr, /Error response from daemon: memory=67108864: berth build does not support --memory for RUN\n/);
  assert.match(run(DEBIAN_DOCKER, ['build', '--rm=false', join(dir, 'ctx')]).stderr, /Error response from daemon: rm=0: berth build always removes its intermediate containers/);
  const buildkit = run(DEBIAN_DOCKER, ['build', join(dir, 'ctx')], { DOCKER_BUILDKIT: '1' });
  assert.notEqual(buildkit.status, 0);
  assert.match(buildkit.stderr, /BuildKit \(version=2\) is not supported by berth: use the classic builder \(DOCKER_BUILDKIT=0\)/);
  const docker28 = DOCKER_CLIS.find((p) => p !== DEBIAN_DOCKER);
  if (docker28 !== undefined) {
    // docker 28 without buildx: its legacy builder, after a warning; with DOCKER_BUILDKIT=0 the same.
    const legacy = run(docker28, ['build', '-q', '--network', 'none', '-t', 'api-legacy', join(dir, 'ctx')], { DOCKER_BUILDKIT: '0' });
    assert.equal(legacy.status, 0, legacy.stderr);
    assert.match(legacy.stderr, /DEPRECATED: The legacy builder is deprecated/);
  }

  // compose 1.29: `build:` with args and labels, through docker-py's POST /build (not the CLI);
  // plain `up` builds because docker-py reads the 404's "No such image" (dockerd's case) as missing.
  if (existsSync(COMPOSE)) {
    mkdirSync(join(dir, 'compose', 'app'), { recursive: true });
    writeFileSync(join(dir, 'compose', 'app', 'Dockerfile'), 'FROM busybox\nARG WHO=nobody\nRUN echo "built for $WHO" > /msg\nCMD ["cat", "/msg"]\n');
    writeFileSync(join(dir, 'compose', 'docker-compose.yml'), 'version: "3.8"\nservices:\n  app:\n    build:\n      context: ./app\n      network: none\n      args:\n        WHO: compose\n      labels:\n        made.by: compose\n    image: api-compose-app:latest\n    network_mode: none\n');
    const compose = (...args: string[]) => run(COMPOSE, ['-p', 'apibuild', ...args], { COMPOSE_DOCKER_CLI_BUILD: '0' }, join(dir, 'compose'));
    const up = compose('up');
    assert.equal(up.status, 0, up.stderr);
    assert.match(up.stderr, /Image for service app was built because it did not already exist/);
    assert.match(up.stdout, /Successfully tagged api-compose-app:latest\n/);
    assert.match(up.stdout, /app_1 +\|(\x1B\[0m)? built for compose\n/);
    assert.equal(ok(run(DEBIAN_DOCKER, ['image', 'inspect', '--format', '{{index .Config.Labels "made.by"}}', 'api-compose-app'])).trim(), 'compose');
    ok(compose('down'));
  }
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });
});

test('POST /build: a client gone mid-RUN stops the build, and nothing of it is left', { skip }, async (t) => {
  const b = berthRoot(t, 'api-build-gone');
  await buildTestImage(new ImageStore(b.root), 'busybox:latest');
  const service = await startService(t, b.env);
  const context = await makeTar([[{ name: 'Dockerfile', type: 'file', mode: 0o644 }, 'FROM busybox\nRUN echo started && sleep 1000\n']]);
  let seen = '';
  const id = await new Promise<string>((resolve, reject) => {
    const req = request({ socketPath: service.socket, method: 'POST', path: '/v1.41/build?networkmode=none', headers: { 'Content-Type': 'application/x-tar' } }, (res) => {
      res.on('data', (d: Buffer) => {
        seen += d.toString();
        const running = /Running in ([0-9a-f]{12})/.exec(seen);
        if (running && seen.includes('started')) {
          req.destroy(); // as docker build's Ctrl-C does
          resolve(running[1]!);
        }
      });
    });
    req.on('error', (err) => (seen.includes('started') ? undefined : reject(err)));
    req.end(context);
  });
  assert.match(seen, /^\{"stream":"Step 1\/2 : FROM busybox\\n"\}\r\n/);
  await waitFor('the build to remove its RUN container', () => ok(b.berth('ps', '-aq')) === '', 30_000, 100);
  await waitFor('the RUN container\'s cgroups to go', () => cgroupsMentioning([id]).length === 0, 30_000, 100);
  assert.deepEqual(hostMountsMentioning(id), []);
  assert.deepEqual(leftovers(b), { containers: '', dangling: '' });
});
