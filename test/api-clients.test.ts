// Client libraries from npm against `berth system service`, unchanged: dockerode (pull from a local
// registry, create with a published port, start, exec through the demultiplexed stream, logs,
// stop, remove) and testcontainers (a GenericContainer with an exposed port and wait strategies,
// exec, logs, stop). One service; nothing of either left behind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { after, test } from 'node:test';
import Docker from 'dockerode';
import { saveHostNetwork } from './helpers/host-network.js';
import { berthRoot, busyboxRootfsTar, ok } from './helpers/berth-cli.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { freePort, registryAvailable, startRegistry } from './helpers/registry.js';
import { httpGet, startService } from './helpers/api-service.js';
import { leftovers } from './helpers/run.js';
import { ENGINE_RUNTIME_ROOT } from '../src/engine/context.js';

const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !registryAvailable() ? 'docker-registry not found (apt-get install docker-registry)' : false;

after(saveHostNetwork());

function collect(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    stream.on('data', (d: Buffer) => (text += d.toString()));
    stream.on('end', () => resolve(text));
    stream.on('error', reject);
  });
}

/** A multiplexed answer (logs without a tty) split as dockerode's demuxStream splits a stream. */
function demux(data: Buffer): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  for (let at = 0; at + 8 <= data.length; ) {
    const size = data.readUInt32BE(at + 4);
    const text = data.subarray(at + 8, at + 8 + size).toString();
    if (data[at] === 2) out.stderr += text;
    else out.stdout += text;
    at += 8 + size;
  }
  return out;
}

test('dockerode and testcontainers drive berth through the API', { skip }, async (t) => {
  const { env, berth } = berthRoot(t, 'api-clients');
  const registry = await startRegistry(t);
  const image = `${registry.host}/test/busybox:1`;
  ok(berth('import', busyboxRootfsTar(t), image));
  ok(berth('push', image));
  ok(berth('rmi', image));
  const service = await startService(t, env);
  const docker = new Docker({ socketPath: service.socket });
  const ids: string[] = [];

  // dockerode: the pull's progress followed to its end.
  const pullStream = await docker.pull(image);
  const events = await new Promise<{ status?: string; error?: string }[]>((resolve, reject) => docker.modem.followProgress(pullStream, (err: Error | null, out: { status?: string }[]) => (err ? reject(err) : resolve(out))));
  assert.ok(events.some((e) => e.status?.startsWith('Status: Downloaded newer image')), JSON.stringify(events));
  assert.ok(!events.some((e) => e.error));

  // A web server on a published port; exec's output demultiplexed, its exit code; logs; stop; remove.
  const port = await freePort();
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['sh', '-c', 'mkdir /www; echo hello-dockerode > /www/index.html; echo to-stderr >&2; exec httpd -f -v -p 80 -h /www'],
    ExposedPorts: { '80/tcp': {} },
    HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
  });
  ids.push(container.id);
  await container.start();
  const info = await container.inspect();
  assert.equal(info.State.Running, true);
  assert.equal(info.NetworkSettings.Ports['80/tcp']?.[0]?.HostPort, String(port));
  const exec = await container.exec({ Cmd: ['sh', '-c', 'echo out; echo err >&2; exit 3'], AttachStdout: true, AttachStderr: true });
  const execStream = await exec.start({ hijack: true, stdin: false });
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  docker.modem.demuxStream(execStream, stdout, stderr);
  const [execOut, execErr] = await Promise.all([collect(stdout), collect(stderr), new Promise<void>((resolve) => execStream.on('end', () => (stdout.end(), stderr.end(), resolve())))]);
  assert.deepEqual([execOut, execErr], ['out\n', 'err\n']);
  assert.equal((await exec.inspect()).ExitCode, 3);
  let page = '';
  for (let i = 0; page !== 'hello-dockerode\n'; i++) {
    assert.ok(i < 200, `the published port did not answer: ${page}`);
    page = await httpGet(`http://127.0.0.1:${port}/`).catch(() => '');
    if (page !== 'hello-dockerode\n') await new Promise((r) => setTimeout(r, 50));
  }
  const logs = demux(await container.logs({ stdout: true, stderr: true, follow: false }));
  assert.equal(logs.stderr.split('\n')[0], 'to-stderr');
  await container.stop({ t: 1 });
  assert.equal((await container.inspect()).State.Running, false);
  await container.remove();
  assert.equal((await docker.listContainers({ all: true })).length, 0);

  // testcontainers: its own client, found by DOCKER_HOST; no reaper container (Ryuk) here.
  // Its lock file (testcontainers-node-UID.lock) goes to os.tmpdir(): a directory of the test's own.
  const tmp = mkdtempSync('/tmp/berth-test-testcontainers-');
  const saved = { DOCKER_HOST: process.env.DOCKER_HOST, TESTCONTAINERS_RYUK_DISABLED: process.env.TESTCONTAINERS_RYUK_DISABLED, TMPDIR: process.env.TMPDIR };
  t.after(() => {
    for (const [k, v] of Object.entries(saved)) v === undefined ? delete process.env[k] : (process.env[k] = v);
    rmSync(tmp, { recursive: true, force: true });
  });
  Object.assign(process.env, { DOCKER_HOST: `unix://${service.socket}`, TESTCONTAINERS_RYUK_DISABLED: 'true', TMPDIR: tmp });
  const { GenericContainer, Wait } = await import('testcontainers');
  const container2 = new GenericContainer(image)
    .withCommand(['sh', '-c', 'mkdir /www; echo hello-testcontainers > /www/index.html; echo web is ready; exec httpd -f -p 8080 -h /www'])
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forAll([Wait.forListeningPorts(), Wait.forLogMessage('web is ready')]))
    .withStartupTimeout(30_000);
  // A failed start shows what the service said (testcontainers reports only its last step).
  const started = await container2.start().catch((err: Error) => {
    throw new Error(`testcontainers: ${err.message}\n--- the service's stderr\n${service.stderr()}`);
  });
  ids.push(started.getId());
  assert.equal(await httpGet(`http://${started.getHost()}:${started.getMappedPort(8080)}/`), 'hello-testcontainers\n');
  const result = await started.exec(['sh', '-c', 'echo from-exec; exit 4']);
  assert.deepEqual([result.exitCode, result.output], [4, 'from-exec\n']);
  const logStream = await started.logs();
  const firstLine = await new Promise<string>((resolve) => logStream.on('data', (d: Buffer | string) => d.toString().includes('web is ready') && resolve('web is ready')));
  logStream.destroy();
  assert.equal(firstLine, 'web is ready');
  await started.stop();
  assert.equal((await docker.listContainers({ all: true })).length, 0, 'testcontainers removes what it started');

  // No state dir entry, process, mount or cgroup of either container (other state dir entries are not ours).
  assert.deepEqual(leftovers(ENGINE_RUNTIME_ROOT, ids).filter((l) => !l.startsWith('state dir entry') || ids.some((id) => l.includes(id))), []);
});
