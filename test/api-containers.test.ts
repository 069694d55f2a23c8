// The Engine API's events and container endpoints beyond the lifecycle (`berth system service`):
// docker events (since, until, filters, following) of operations made by the docker CLIs and by
// berth's CLI alike, including the exit of a detached container under conmon; the events as
// Docker's swagger defines them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, test, type TestContext } from 'node:test';
import { berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { SWAGGER_MISSING_REASON, swaggerAvailable, validateResponse } from './helpers/docker-swagger.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { waitFor } from './helpers/run.js';
import { BERTH } from './helpers/berth-cli.js';
import { DEBIAN_DOCKER, DOCKER_CLIS, dockerCli, rawRequest, startService } from './helpers/api-service.js';

const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !existsSync(DEBIAN_DOCKER) ? `${DEBIAN_DOCKER} not found (apt-get install docker.io)` : !swaggerAvailable() ? SWAGGER_MISSING_REASON : false;

after(saveHostNetwork());

/** docker's form of a time for --since/--until: Unix seconds with a fraction. */
const unixTime = (ms: number) => (ms / 1000).toFixed(9);

/** A follower's output, gathered as it comes. */
function follow(t: TestContext, bin: string, args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(bin, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { output: () => out, stop: async () => (child.kill('SIGTERM'), exited) };
}

test('docker events: since, until, filters and following, of the docker CLI\'s and berth\'s operations alike; the events as Docker defines them', { skip }, async (t) => {
  const { env, berth } = berthRoot(t, 'api-events');
  const start = Date.now();
  ok(berth('import', busyboxRootfsTar(t), 'busybox:latest'));
  const service = await startService(t, env);
  const docker = dockerCli(t, service.socket);
  const dockerEnv = { PATH: process.env.PATH, HOME: '/nonexistent', DOCKER_HOST: `unix://${service.socket}` };

  // A follower started first sees the detached container's exit, recorded by conmon's exit path
  // (nobody waits for it or asks for its state).
  const dies = follow(t, process.execPath, [BERTH, 'events', '--filter', 'event=die', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}'], env);
  const dockerFollow = follow(t, DEBIAN_DOCKER, ['events', '--filter', 'container=quick', '--format', '{{.Type}} {{.Action}}'], dockerEnv);
  await new Promise((resolve) => setTimeout(resolve, 500)); // both followers reading (their start is not an event to wait for)
  ok(berth('run', '-d', '--name', 'detached', 'busybox', 'sh', '-c', 'exit 5'));
  await waitFor('the die event of the detached container', () => dies.output().includes('detached 5\n'), 15_000);

  // Operations through the API and through berth's CLI.
  assert.equal(berth('run', '--name', 'fg', '--label', 'who=events', 'busybox', 'sh', '-c', 'exit 3').status, 3);
  ok(docker('run', '-d', '--name', 'web', '--label', 'who=events', 'busybox', 'sleep', '100'));
  ok(docker('exec', 'web', 'true'));
  ok(docker('pause', 'web'));
  ok(docker('unpause', 'web'));
  ok(docker('rename', 'web', 'web2'));
  ok(docker('stop', '-t', '1', 'web2'));
  ok(docker('rm', 'web2'));
  ok(docker('run', '--rm', '--name', 'quick', 'busybox', 'true'));
  ok(docker('network', 'create', 'evnet'));
  ok(docker('network', 'rm', 'evnet'));
  ok(docker('volume', 'create', 'evvol'));
  ok(docker('run', '--rm', '-v', 'evvol:/data', 'busybox', 'true'));
  ok(docker('volume', 'rm', 'evvol'));
  ok(docker('tag', 'busybox', 'evimage:1'));
  ok(docker('rmi', 'evimage:1'));
  await waitFor('the follower to see quick destroyed', () => dockerFollow.output().includes('container destroy'), 15_000);
  await dockerFollow.stop();
  await dies.stop();
  assert.equal(dockerFollow.output(), 'container create\ncontainer attach\ncontainer start\ncontainer die\ncontainer destroy\n');
  assert.match(dies.output(), /^detached 5\nfg 3\nweb2 137\nquick 0\n/m);
  const end = Date.now();

  for (const bin of DOCKER_CLIS) {
    const d = dockerCli(t, service.socket, bin);
    const window = ['--since', unixTime(start), '--until', unixTime(end)];
    const actions = (...filters: string[]) => ok(d('events', ...window, ...filters.flatMap((f) => ['--filter', f]), '--format', '{{.Action}}')).trim().split('\n');
    assert.deepEqual(
      actions('container=web2'), // by its name at the time of each event
      ['rename', 'kill', 'kill', 'die', 'stop', 'destroy'], // SIGTERM, then SIGKILL after -t 1 (sleep as pid 1 ignores SIGTERM)
      bin,
    );
    assert.deepEqual(actions('label=who=events', 'type=container'), ['create', 'start', 'die', 'create', 'start', 'exec_create: true', 'exec_start: true', 'exec_die', 'pause', 'unpause', 'rename', 'kill', 'kill', 'die', 'stop', 'destroy'], bin);
    assert.deepEqual(actions('label=who=events', 'event=exec_start', 'event=die'), ['die', 'exec_start: true', 'die'], bin);
    assert.deepEqual(actions('type=network', 'network=evnet'), ['create', 'destroy'], bin);
    assert.deepEqual(actions('type=volume', 'volume=evvol'), ['create', 'mount', 'destroy'], bin);
    assert.deepEqual(actions('type=image', 'image=evimage'), ['tag', 'untag'], bin);
    const line = ok(d('events', ...window, '--filter', 'container=fg', '--filter', 'event=die'));
    assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container die [0-9a-f]{64} \(exitCode=3, image=busybox, name=fg, who=events\)\n$/, bin);
    const bad = d('events', ...window, '--filter', 'nosuch=x');
    assert.notEqual(bad.status, 0, bin);
    assert.match(bad.stderr, /Invalid filter 'nosuch'/, bin);
  }

  // berth's CLI reads the same log, in docker's words.
  assert.equal(ok(berth('events', '--since', unixTime(start), '--until', unixTime(end), '--filter', 'container=detached', '--format', '{{.Action}}')), 'create\nstart\ndie\n');

  // The events as the API sends them, each as Docker's swagger defines it.
  const raw = await rawRequest(service.socket, 'GET', `/v1.41/events?since=${unixTime(start)}&until=${unixTime(end)}`);
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['content-type'], 'application/json');
  const events = raw.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.ok(events.length > 40, `${events.length} events`);
  for (const e of events) assert.deepEqual(validateResponse('/events', 'get', 200, e), [], JSON.stringify(e));
  const types = new Set(events.map((e) => e.Type));
  assert.deepEqual([...types].sort(), ['container', 'image', 'network', 'volume']);
  const bad = await rawRequest(service.socket, 'GET', '/v1.41/events?since=yesterday');
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).message, /since=yesterday: not a time/);
});
