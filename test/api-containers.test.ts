// The Engine API's events and container endpoints beyond the lifecycle (`berth system service`):
// docker events (since, until, filters, following) of operations made by the docker CLIs and by
// berth's CLI alike, including the exit of a detached container under conmon; the events as
// Docker's swagger defines them.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, test, type TestContext } from 'node:test';
import { berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { imageArchitecture } from '../src/image/index.js';
import { SWAGGER_MISSING_REASON, swaggerAvailable, validateResponse } from './helpers/docker-swagger.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { REGISTRY_PASSWORD, REGISTRY_USER, registryAvailable, startRegistry } from './helpers/registry.js';
import { leftovers, waitFor } from './helpers/run.js';
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

/** The first `count` JSON lines of a streamed answer, then the connection closed. */
function streamLines(socket: string, path: string, count: number): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, path, agent: false }, (res) => {
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n').filter(Boolean);
        if (lines.length >= count && buf.endsWith('\n')) {
          req.destroy();
          resolve(lines.slice(0, count).map((l) => JSON.parse(l)));
        }
      });
      res.on('end', () => resolve(buf.split('\n').filter(Boolean).map((l) => JSON.parse(l))));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request on a keep-alive agent's connection: its status, and whether the connection was one used before. */
function agentRequest(agent: Agent, socket: string, method: string, path: string, body?: string): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: socket, method, path, agent, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('docker top, stats, diff, export, container prune, system df and login through the API, on the engine operations of berth\'s verbs', { skip: skip || (!registryAvailable() && 'docker-registry not found') }, async (t) => {
  const { env, berth } = berthRoot(t, 'api-info');
  ok(berth('import', busyboxRootfsTar(t), 'busybox:latest'));
  const service = await startService(t, env);
  const docker = dockerCli(t, service.socket);
  const dir = mkdtempSync('/tmp/berth-test-export-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const id = ok(docker('run', '-d', '--name', 'box', 'busybox', 'sh', '-c', 'echo hi > /added; rm /etc/group; exec sleep 1000')).trim();
  await waitFor('the container to make its changes', () => docker('exec', 'box', 'test', '-f', '/added').status === 0, 10_000);

  // top: ps's rows of the container's processes; with ps options.
  const top = ok(docker('top', 'box'));
  assert.match(top.split('\n')[0], /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
  assert.match(top, /sleep 1000/);
  assert.match(ok(docker('top', 'box', '-o', 'pid,args')), /^PID\s+COMMAND\n\d+\s+sleep 1000\n$/);
  const topJson = JSON.parse((await rawRequest(service.socket, 'GET', '/v1.41/containers/box/top?ps_args=-o%20pid,args')).body);
  assert.deepEqual(validateResponse('/containers/{id}/top', 'get', 200, topJson), []);
  assert.deepEqual(topJson.Titles, ['PID', 'COMMAND']);
  assert.equal(topJson.Processes[0][1], 'sleep 1000');

  // stats: one sample (with the one before), a stream of them; docker stats reads them.
  assert.match(ok(docker('stats', '--no-stream', '--format', '{{.Name}} {{.PIDs}} {{.MemUsage}}', 'box')), /^box 1 [\d.]+[KMG]iB \/ [\d.]+[KMG]iB\n$/);
  const one = JSON.parse((await rawRequest(service.socket, 'GET', '/v1.41/containers/box/stats?stream=false')).body);
  assert.deepEqual(validateResponse('/containers/{id}/stats', 'get', 200, one), []);
  assert.equal(one.id, id);
  assert.equal(one.name, '/box');
  assert.ok(one.cpu_stats.cpu_usage.total_usage > 0 && one.cpu_stats.system_cpu_usage > one.precpu_stats.system_cpu_usage, JSON.stringify(one.cpu_stats));
  assert.ok(one.memory_stats.usage > 0 && one.memory_stats.limit > 0);
  assert.equal(one.pids_stats.current, 1);
  assert.ok(one.networks.eth0.rx_bytes >= 0);
  const streamed = (await streamLines(service.socket, '/v1.41/containers/box/stats', 2)) as { read: string; preread: string }[];
  assert.equal(streamed.length, 2);
  assert.equal(streamed[1].preread, streamed[0].read);

  // update: the limits berth sets, live and for later starts, and the restart policy; others refused by name.
  ok(docker('update', '--memory', '64m', '--pids-limit', '50', '--restart', 'on-failure:2', 'box'));
  assert.equal(ok(docker('inspect', '-f', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}} {{.HostConfig.RestartPolicy.Name}}', 'box')).trim(), '67108864 50 on-failure');
  const limited = JSON.parse((await rawRequest(service.socket, 'GET', '/v1.41/containers/box/stats?stream=false&one-shot=true')).body);
  assert.deepEqual([limited.memory_stats.limit, limited.pids_stats.limit], [67108864, 50], 'the live cgroup');
  const shares = docker('update', '--cpu-shares', '512', 'box');
  assert.notEqual(shares.status, 0);
  assert.match(shares.stderr, /CpuShares: berth cannot update it/);
  const updated = await rawRequest(service.socket, 'POST', '/v1.41/containers/box/update', JSON.stringify({ PidsLimit: 60 }), { 'Content-Type': 'application/json' });
  assert.deepEqual(validateResponse('/containers/{id}/update', 'post', 200, JSON.parse(updated.body)), []);
  assert.equal(ok(berth('update', '--pids-limit', '70', 'box')), 'box\n', 'berth update: the same operation');
  assert.equal(ok(docker('inspect', '-f', '{{.HostConfig.PidsLimit}}', 'box')).trim(), '70');

  // diff and export: the container's changes, its whole tree.
  assert.deepEqual(ok(docker('diff', 'box')).trim().split('\n').sort(), ok(berth('diff', 'box')).trim().split('\n').sort());
  assert.match(ok(docker('diff', 'box')), /^A \/added$/m);
  assert.match(ok(docker('diff', 'box')), /^D \/etc\/group$/m);
  const changes = JSON.parse((await rawRequest(service.socket, 'GET', '/v1.41/containers/box/changes')).body);
  assert.deepEqual(validateResponse('/containers/{id}/changes', 'get', 200, changes), []);
  assert.ok(changes.some((c: { Path: string; Kind: number }) => c.Path === '/added' && c.Kind === 1));
  ok(docker('export', '-o', join(dir, 'box.tar'), 'box'));
  const listing = execFileSync('tar', ['-tf', join(dir, 'box.tar')], { encoding: 'utf8' });
  assert.match(listing, /^added$/m);
  assert.match(listing, /^bin\/busybox$/m);
  assert.doesNotMatch(listing, /^etc\/group$/m);

  // top of a container that does not run: docker's 409.
  ok(docker('create', '--name', 'idle', '--label', 'prune=yes', 'busybox', 'true'));
  const idleTop = await rawRequest(service.socket, 'GET', '/v1.41/containers/idle/top');
  assert.equal(idleTop.status, 409);

  // system df: the image, the two containers, a volume, as Docker defines them.
  ok(docker('volume', 'create', 'dfvol'));
  const df = JSON.parse((await rawRequest(service.socket, 'GET', '/v1.41/system/df')).body);
  // v1.41's swagger defines ContainerSummary as the list itself, so /system/df's Containers (items
  // of ContainerSummary) are checked as the list /containers/json answers, which dockerd sends too.
  assert.deepEqual(validateResponse('/system/df', 'get', 200, { ...df, Containers: [] }), []);
  assert.deepEqual(validateResponse('/containers/json', 'get', 200, df.Containers), []);
  assert.equal(df.Images.length, 1);
  assert.deepEqual(df.Containers.map((c: { Names: string[] }) => c.Names[0]).sort(), ['/box', '/idle']);
  assert.ok(df.Containers.find((c: { Names: string[]; SizeRw: number }) => c.Names[0] === '/box').SizeRw >= 3);
  assert.deepEqual(df.Volumes.map((v: { Name: string; UsageData: unknown }) => [v.Name, v.UsageData]), [['dfvol', { Size: 0, RefCount: 0 }]]);
  assert.match(ok(docker('system', 'df')), /^Images\s+1\s+1\s/m);

  // container prune: only the stopped containers the filters keep.
  ok(docker('create', '--name', 'keep', 'busybox', 'true'));
  const pruned = ok(docker('container', 'prune', '-f', '--filter', 'label=prune=yes'));
  assert.match(pruned, /^Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.equal(ok(berth('ps', '-a', '--format', '{{.Names}}')).split('\n').filter(Boolean).sort().join(' '), 'box keep');
  const future = await rawRequest(service.socket, 'POST', `/v1.41/containers/prune?filters=${encodeURIComponent(JSON.stringify({ until: ['1h'] }))}`);
  assert.deepEqual(JSON.parse(future.body), { ContainersDeleted: [], SpaceReclaimed: 0 }, 'nothing is older than an hour');
  const badFilter = await rawRequest(service.socket, 'POST', `/v1.41/containers/prune?filters=${encodeURIComponent(JSON.stringify({ status: ['exited'] }))}`);
  assert.equal(badFilter.status, 400);
  const all = JSON.parse((await rawRequest(service.socket, 'POST', '/v1.41/containers/prune')).body);
  assert.deepEqual(validateResponse('/containers/prune', 'post', 200, all), []);
  assert.equal(all.ContainersDeleted.length, 1);
  ok(docker('rm', '-f', 'box'));
  ok(docker('volume', 'rm', 'dfvol'));

  // A body over the 1 MiB limit is refused with a 400 once the client has sent it all: answered
  // earlier, the connection closed under a client still writing (Node's got EPIPE, not the 400).
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const huge = JSON.stringify({ Image: 'busybox', Env: ['x'.repeat(2 << 20)] });
  for (let i = 0; i < 5; i++) assert.equal((await agentRequest(agent, service.socket, 'POST', '/v1.41/containers/create', huge)).status, 400);
  assert.deepEqual(await agentRequest(agent, service.socket, 'GET', '/_ping'), { status: 200, reused: true }, 'the connection went on');

  // docker login: the registry checks the credentials; a wrong password is refused.
  const registry = await startRegistry(t, { kind: 'htpasswd' });
  for (const bin of DOCKER_CLIS) {
    const d = dockerCli(t, service.socket, bin);
    const good = spawnSync(bin, ['login', '-u', REGISTRY_USER, '--password-stdin', registry.host], { input: REGISTRY_PASSWORD, encoding: 'utf8', env: { PATH: '/nonexistent', DOCKER_HOST: `unix://${service.socket}`, DOCKER_CONFIG: dir } }); // no PATH: no credential helper (docker 28 would take pass)
    assert.equal(good.status, 0, `${bin}: ${good.stderr}`);
    assert.match(good.stdout, /Login Succeeded/);
    const bad = d('login', '-u', REGISTRY_USER, '-p', 'wrong', registry.host);
    assert.notEqual(bad.status, 0, bin);
    assert.match(bad.stderr, /401|unauthorized|denied/i, bin);
  }
  const authAnswer = await rawRequest(service.socket, 'POST', '/v1.41/auth', JSON.stringify({ username: REGISTRY_USER, password: REGISTRY_PASSWORD, serveraddress: registry.host }), { 'Content-Type': 'application/json' });
  assert.deepEqual(validateResponse('/auth', 'post', 200, JSON.parse(authAnswer.body)), []);
  const refused = await rawRequest(service.socket, 'POST', '/v1.41/auth', JSON.stringify({ username: REGISTRY_USER, password: 'nope', serveraddress: registry.host }), { 'Content-Type': 'application/json' });
  assert.equal(refused.status, 401);
  assert.ok(JSON.parse(refused.body).message);
});

/** A JSON request on a connection of its own: status and parsed body (null when empty). */
async function apiCall(socket: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const r = await rawRequest(socket, method, path, body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'Content-Type': 'application/json' });
  return { status: r.status, body: r.body.trim() ? JSON.parse(r.body) : null };
}

test('50 concurrent container runs through the API (create, start, wait, delete) all succeed and leave nothing', { skip }, async (t) => {
  const { env, berth, root } = berthRoot(t, 'api-many');
  ok(berth('import', busyboxRootfsTar(t), 'busybox:latest'));
  const service = await startService(t, env);
  // docker run --platform: an image for another platform is not run regardless (dockerd's 404, so
  // that the client pulls the one asked for); the image's own platform is created as without it.
  const foreign = await apiCall(service.socket, 'POST', '/v1.41/containers/create?name=foreign&platform=linux/s390x', { Image: 'busybox', Cmd: ['true'] });
  assert.equal(foreign.status, 404);
  assert.equal((foreign.body as { message: string }).message, `image with reference busybox was found but does not match the specified platform: wanted linux/s390x, actual: linux/${imageArchitecture()}`);
  const native = await apiCall(service.socket, 'POST', `/v1.41/containers/create?name=native&platform=linux/${imageArchitecture()}`, { Image: 'busybox', Cmd: ['true'] });
  assert.equal(native.status, 201, JSON.stringify(native.body));
  assert.equal((await apiCall(service.socket, 'DELETE', '/v1.41/containers/native')).status, 204);
  const run = async (i: number) => {
    const created = await apiCall(service.socket, 'POST', `/v1.41/containers/create?name=many-${i}`, { Image: 'busybox', Cmd: ['sh', '-c', `exit ${i % 3}`] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = (created.body as { Id: string }).Id;
    const started = await apiCall(service.socket, 'POST', `/v1.41/containers/${id}/start`);
    assert.equal(started.status, 204, JSON.stringify(started.body));
    const waited = await apiCall(service.socket, 'POST', `/v1.41/containers/${id}/wait?condition=not-running`);
    assert.deepEqual([waited.status, (waited.body as { StatusCode: number }).StatusCode], [200, i % 3]);
    const removed = await apiCall(service.socket, 'DELETE', `/v1.41/containers/${id}`);
    assert.equal(removed.status, 204, JSON.stringify(removed.body));
    return id;
  };
  const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => run(i)));
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []));
  assert.deepEqual(failed, [], `${failed.length} of 50 failed`);
  const ids = results.map((r) => (r as PromiseFulfilledResult<string>).value);
  assert.equal(ok(berth('ps', '-aq')), '');
  const marks = [...ids, ...ids.map((id) => `berth-${id.slice(0, 12)}`)];
  assert.deepEqual(leftovers(mkdtempSync('/tmp/berth-test-empty-'), marks), []);
  assert.deepEqual(ids.filter((id) => existsSync(`/run/berth/runtime/${id}`)), [], 'runtime state left');
  // The service keeps each exit a minute for a late wait (as dockerd): stopped, it lets them go.
  assert.equal(await service.stop(), 0);
  assert.deepEqual(readdirSync(join(root, 'exits')), [], 'exit files left');
  assert.deepEqual(readdirSync(join(root, 'containers')).filter((n) => !n.startsWith('.') || n.startsWith('.making')), [], 'container directories left');
});
