// The Kubernetes node path (issue 21): containerd's CRI plugin (Debian's containerd 1.6) with two
// RuntimeClass handlers, `runc` (the reference) and `berth` (the same runc shim,
// io.containerd.runc.v2, with BinaryName = dist/bin/berth-runtime), driven over the CRI gRPC API
// (runtime.v1) as the kubelet drives it. The same pod runs on each handler, step by step:
//   1. RunPodSandbox gives READY with an IP (CNI bridge);
//   2. two containers share localhost and the pod's hostname;
//   3. ExecSync returns output and exit codes;
//   4. logs reach the CRI log file;
//   5. stats are non-zero, and UpdateContainerResources reaches the cgroup;
//   6. a container that exits 3 is EXITED with exit code 3 (the shim's `kill --all` of what it left);
//   7. StopContainer honours a TERM trap within its timeout;
//   8. StopPodSandbox and RemovePodSandbox succeed;
//   9. nothing is left: no shim, process, mount, netns, veth, cgroup or runtime state.
// berth-runtime is proved to have run: while the pod runs, the handler's Root holds berth-runtime's
// own record of each container and runc's Root holds none (and the reverse for runc), so a silent
// fallback to runc cannot pass.
//
// Everything is the test's own: containerd's root, state, sockets and config, the CNI config, IPAM
// store and bridge (no masquerade, no portmap, no gateway), network namespaces under containerd's
// state dir, a cgroup parent; the images (busybox, and a pause image from busybox) are built here.
// At the end containerd stops and all of it goes, with the dirs containerd and libcni make at fixed
// places on first use.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURE_CONFIG, busyboxAvailable, BUSYBOX_MISSING_REASON, writeDockerSaveFixture } from './helpers/image-fixture.js';
import { PROJECT } from './helpers/berth-cli.js';
import { criClient, type CriClient } from './helpers/cri-client.js';
import { cgroupParent, engineDir, ok, removeIfNew, startContainerd, undoStack, type Undo } from './helpers/engines.js';
import { cgroupDirsOf, hostMountsUnder, processesMentioning, unique, waitFor } from './helpers/run.js';

const CNI_BIN = '/usr/lib/cni';
const skip =
  process.getuid?.() !== 0 ? 'needs root'
  : !busyboxAvailable() ? BUSYBOX_MISSING_REASON
  : !existsSync(join(CNI_BIN, 'bridge')) ? `${CNI_BIN}/bridge not found (apt-get install containernetworking-plugins)`
  : false;

const BERTH_RUNTIME = join(PROJECT, 'dist/bin/berth-runtime');
const HANDLERS = ['runc', 'berth'] as const;
type Handler = (typeof HANDLERS)[number];
const BUSYBOX_IMAGE = 'docker.io/berth-test/busybox:cri';
const PAUSE_IMAGE = 'docker.io/berth-test/pause:cri';
/** The sandbox's process: waits for TERM or INT, reaping the pod's orphans meanwhile. */
const PAUSE = ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 1000000 & wait; done'];
/** The CRI's namespace in containerd, and so the shim's `--root ROOT/k8s.io` for the runtime. */
const K8S_NAMESPACE = 'k8s.io';
const SUBNET = '10.213.21.0/24';

interface ContainerStatus {
  state: string;
  exit_code: number;
}

/** What one handler's pod is made of, for the steps and for the cleanup. */
interface Pod {
  handler: Handler;
  id: string;
  hostname: string;
  cgroup: string;
  logDir: string;
  containers: Record<string, string>;
}

interface Cri {
  dir: string;
  cri: CriClient;
  parent: string;
  bridge: string;
  roots: Record<Handler, string>;
  defer: (undo: Undo) => void;
}

/** containerd with the CRI plugin and both handlers, the CNI network, the images in its store. */
async function startCri(t: TestContext): Promise<Cri> {
  const defer = undoStack(t);
  // The bridge the CNI plugin makes and never removes: it goes last, once nothing is attached.
  const bridge = `bcri${process.pid % 100_000}`;
  defer(() => {
    if (existsSync(`/sys/class/net/${bridge}`)) execFileSync('ip', ['link', 'del', bridge]);
  });
  const parent = cgroupParent(defer, 'berth-test-cri');
  // The shims' sockets (containerd 1.6), and libcni's cache of results (containerd's CRI gives no
  // other): both fixed places.
  removeIfNew(defer, '/run/containerd');
  removeIfNew(defer, '/var/lib/cni');
  const dir = engineDir(defer, 'cri');
  const roots = { runc: join(dir, 'runc-root'), berth: join(dir, 'berth-root') };
  mkdirSync(join(dir, 'cni'));
  writeFileSync(
    join(dir, 'cni', '10-berth-test.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'berth-test-cri',
      plugins: [{ type: 'bridge', bridge, isGateway: false, ipMasq: false, ipam: { type: 'host-local', ranges: [[{ subnet: SUBNET }]], dataDir: join(dir, 'ipam') } }],
    }),
  );
  const section = 'plugins."io.containerd.grpc.v1.cri"';
  const handler = (name: Handler, binary: string) => [
    `[${section}.containerd.runtimes.${name}]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${section}.containerd.runtimes.${name}.options]`,
    `  BinaryName = "${binary}"`,
    `  Root = "${roots[name]}"`,
  ];
  const { socket, ctr } = await startContainerd(defer, dir, [
    `[${section}]`,
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // root here lacks CAP_SYS_RESOURCE: an oom_score_adj below containerd's own is refused.
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  disable_apparmor = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${section}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    ...handler('runc', 'runc'),
    ...handler('berth', BERTH_RUNTIME),
    `[${section}.cni]`,
    `  bin_dir = "${CNI_BIN}"`,
    `  conf_dir = "${join(dir, 'cni')}"`,
    '  max_conf_num = 1',
  ]);
  const cri = criClient(socket);
  defer(() => cri.close());

  const busybox = join(dir, 'busybox.tar');
  await writeDockerSaveFixture(busybox, { repoTags: ['berth-test/busybox:cri'], applets: ['nc', 'seq'] });
  const pause = join(dir, 'pause.tar');
  await writeDockerSaveFixture(pause, { repoTags: ['berth-test/pause:cri'], config: { ...FIXTURE_CONFIG, Cmd: PAUSE } });
  for (const archive of [busybox, pause]) ok(`ctr images import ${archive}`, ctr('-n', K8S_NAMESPACE, 'images', 'import', archive));
  // The CRI's image list follows containerd's store by its events.
  for (const image of [BUSYBOX_IMAGE, PAUSE_IMAGE]) {
    const deadline = Date.now() + 20_000;
    while (!(await cri.image<{ image: { id: string } | null }>('ImageStatus', { image: { image } })).image?.id) {
      if (Date.now() > deadline) throw new Error(`the CRI does not list ${image}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { dir, cri, parent, bridge, roots, defer };
}

/** The pod's config, as RunPodSandbox and CreateContainer take it. */
function sandboxConfig(pod: Pod) {
  return {
    metadata: { name: `berth-pod-${pod.handler}`, uid: unique('uid'), namespace: 'default', attempt: 0 },
    hostname: pod.hostname,
    log_directory: pod.logDir,
    // The pod's PID namespace is shared by the containers that ask for it (shareProcessNamespace).
    linux: { cgroup_parent: pod.cgroup, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

async function startContainer(env: Cri, pod: Pod, name: string, command: string[], pid: 'POD' | 'CONTAINER'): Promise<string> {
  const config = {
    metadata: { name, attempt: 0 },
    image: { image: BUSYBOX_IMAGE },
    command,
    log_path: `${name}.log`,
    linux: { security_context: { namespace_options: { network: 'POD', pid, ipc: 'POD' } } },
  };
  const { container_id: id } = await env.cri.runtime<{ container_id: string }>('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: sandboxConfig(pod) });
  pod.containers[name] = id;
  await env.cri.runtime('StartContainer', { container_id: id });
  return id;
}

const status = async (env: Cri, id: string) => (await env.cri.runtime<{ status: ContainerStatus }>('ContainerStatus', { container_id: id })).status;

async function waitExited(env: Cri, id: string): Promise<ContainerStatus> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await status(env, id);
    if (s.state === 'CONTAINER_EXITED') return s;
    if (Date.now() > deadline) throw new Error(`container ${id} is still ${s.state}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function execSync(env: Cri, id: string, cmd: string[]) {
  const r = await env.cri.runtime<{ stdout: Buffer; stderr: Buffer; exit_code: number }>('ExecSync', { container_id: id, cmd, timeout: 20 });
  return { stdout: r.stdout.toString(), stderr: r.stderr.toString(), exitCode: r.exit_code };
}

/** The runtime's container ids under a handler's Root. */
function runtimeState(root: string): string[] {
  const dir = join(root, K8S_NAMESPACE);
  return existsSync(dir) ? readdirSync(dir).filter((e) => !e.startsWith('.')) : [];
}

/** Everything of `pod` that could be left on the host; empty when clean. */
function leftovers(env: Cri, pod: Pod): string[] {
  const files = (dir: string): string[] =>
    existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)])) : [];
  const cgroups = cgroupDirsOf(pod.cgroup).flatMap((d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)));
  const veths = execFileSync('ip', ['-o', 'link', 'show', 'master', env.bridge], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return [
    ...processesMentioning([pod.id, ...Object.values(pod.containers)]).map((p) => `process ${p}`),
    ...hostMountsUnder(env.dir).map((m) => `mount ${m}`),
    ...files(join(env.dir, 'state')).filter((f) => f.includes('netns')).map((f) => `netns ${f}`),
    ...veths.map((l) => `veth ${l}`),
    ...cgroups.map((c) => `cgroup ${c}`),
    ...HANDLERS.flatMap((h) => runtimeState(env.roots[h]).map((id) => `${h} runtime state ${id}`)),
  ];
}

/** Runs the steps in order as subtests; after a failure the rest are skipped, naming it. */
function stepper(t: TestContext) {
  let failed: string | undefined;
  return async (name: string, fn: () => Promise<void>) => {
    await t.test(name, { skip: failed && `step "${failed}" failed` }, async () => {
      try {
        await fn();
      } catch (err) {
        failed = name;
        throw err;
      }
    });
  };
}

async function scenario(t: TestContext, env: Cri, handler: Handler): Promise<void> {
  const pod: Pod = { handler, id: '', hostname: `berth-cri-${handler}`, cgroup: `${env.parent}/pod-${handler}`, logDir: join(env.dir, 'logs', handler), containers: {} };
  mkdirSync(pod.logDir, { recursive: true });
  let removed = false;
  env.defer(async () => {
    if (removed || !pod.id) return;
    await env.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.id }).catch(() => {});
    await env.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id }).catch(() => {});
  });
  const other = HANDLERS.find((h) => h !== handler) as Handler;
  const step = stepper(t);

  await step('1. RunPodSandbox gives READY with an IP', async () => {
    pod.id = (await env.cri.runtime<{ pod_sandbox_id: string }>('RunPodSandbox', { config: sandboxConfig(pod), runtime_handler: handler })).pod_sandbox_id;
    const { status: s } = await env.cri.runtime<{ status: { state: string; network: { ip: string }; runtime_handler: string } }>('PodSandboxStatus', { pod_sandbox_id: pod.id });
    assert.equal(s.state, 'SANDBOX_READY');
    assert.match(s.network.ip, /^10\.213\.21\.\d+$/);
    assert.equal(s.runtime_handler, handler);
  });

  await step(`2. two containers share localhost and the pod's hostname; ${handler} made them`, async () => {
    const server = await startContainer(env, pod, 'server', ['sh', '-c', 'echo "to stdout from $(hostname)"; echo "to stderr" >&2; exec nc -ll -p 8080 -e /bin/hostname'], 'CONTAINER');
    const client = await startContainer(env, pod, 'client', ['sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done'], 'POD');
    const talk = await execSync(env, client, ['sh', '-c', 'for i in $(seq 100); do nc 127.0.0.1 8080 && exit 0; sleep 0.05; done; exit 1']);
    assert.deepEqual(talk, { stdout: `${pod.hostname}\n`, stderr: '', exitCode: 0 });
    assert.equal((await execSync(env, client, ['hostname'])).stdout, `${pod.hostname}\n`);
    // The handler's runtime wrote the state of the sandbox and both containers; the other's, none.
    const ours = runtimeState(env.roots[handler]);
    for (const id of [pod.id, server, client]) assert.ok(ours.includes(id), `${handler}'s Root has no state for ${id}: ${ours}`);
    assert.deepEqual(runtimeState(env.roots[other]), []);
    const record = JSON.parse(readFileSync(join(env.roots[handler], K8S_NAMESPACE, server, 'state.json'), 'utf8')) as Record<string, unknown>;
    // berth-runtime's record has the init's start time; runc's state.json has none.
    assert.equal('pidStartTime' in record, handler === 'berth', `state.json of ${handler}: ${Object.keys(record)}`);
    // The leak check of step 9 sees each kind of thing the running pod has.
    const seen = new Set(leftovers(env, pod).map((l) => l.split(' ')[0]));
    assert.deepEqual([...seen].sort(), ['cgroup', 'mount', 'netns', 'process', `${handler}`, 'veth'].sort());
  });

  await step('3. ExecSync returns output and exit codes', async () => {
    assert.deepEqual(await execSync(env, pod.containers.server, ['sh', '-c', 'echo out; echo err >&2; exit 5']), { stdout: 'out\n', stderr: 'err\n', exitCode: 5 });
    // A program that is not there: no exit code, an error naming it (the runtime's words).
    await assert.rejects(execSync(env, pod.containers.server, ['/no/such/program']), /\/no\/such\/program.*no such file or directory/);
  });

  await step('4. logs reach the CRI log file', async () => {
    const file = join(pod.logDir, 'server.log');
    await waitFor('both log lines', () => existsSync(file) && readFileSync(file, 'utf8').split('\n').length > 2, 10_000, 20);
    const log = readFileSync(file, 'utf8');
    assert.match(log, new RegExp(`^\\S+ stdout F to stdout from ${pod.hostname}$`, 'm'));
    assert.match(log, /^\S+ stderr F to stderr$/m);
  });

  await step('5. stats are non-zero; UpdateContainerResources reaches the cgroup', async () => {
    const { stats } = await env.cri.runtime<{ stats: { cpu: { usage_core_nano_seconds: { value: number } }; memory: { working_set_bytes: { value: number } } } }>('ContainerStats', { container_id: pod.containers.server });
    assert.ok(stats.cpu.usage_core_nano_seconds.value > 0, JSON.stringify(stats));
    assert.ok(stats.memory.working_set_bytes.value > 0, JSON.stringify(stats));
    const limit = 64 * 1024 * 1024;
    await env.cri.runtime('UpdateContainerResources', { container_id: pod.containers.server, linux: { memory_limit_in_bytes: limit, cpu_shares: 512 } });
    const files = cgroupDirsOf(`${pod.cgroup}/${pod.containers.server}`).flatMap((d) => ['memory.limit_in_bytes', 'memory.max'].map((f) => join(d, f))).filter(existsSync);
    assert.ok(files.length > 0, 'no memory limit file of the container');
    for (const f of files) assert.equal(readFileSync(f, 'utf8').trim(), String(limit), f);
  });

  await step('6. a container that exits 3 is EXITED with exit code 3, and what it left is killed', async () => {
    // In the pod's PID namespace: its orphan outlives it, and the shim's `kill --all` must end it.
    const id = await startContainer(env, pod, 'exit3', ['sh', '-c', 'sleep 1000 & exit 3'], 'POD');
    const s = await waitExited(env, id);
    assert.equal(s.exit_code, 3);
    const procs = () => cgroupDirsOf(`${pod.cgroup}/${id}`).flatMap((d) => readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean));
    await waitFor('the orphan in its cgroup to be killed', () => procs().length === 0, 10_000, 20);
  });

  await step('7. StopContainer honours a TERM trap within its timeout', async () => {
    await env.cri.runtime('StopContainer', { container_id: pod.containers.client, timeout: 30 });
    const s = await status(env, pod.containers.client);
    // 7 is the trap's; a SIGKILL after the timeout would give 137.
    assert.deepEqual([s.state, s.exit_code], ['CONTAINER_EXITED', 7]);
  });

  await step('8. StopPodSandbox and RemovePodSandbox succeed', async () => {
    await env.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod.id });
    const { status: s } = await env.cri.runtime<{ status: { state: string } }>('PodSandboxStatus', { pod_sandbox_id: pod.id });
    assert.equal(s.state, 'SANDBOX_NOTREADY');
    assert.equal((await status(env, pod.containers.server)).state, 'CONTAINER_EXITED');
    await env.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod.id });
    removed = true;
    await assert.rejects(env.cri.runtime('PodSandboxStatus', { pod_sandbox_id: pod.id }), /not found/i);
  });

  await step('9. nothing is left: no shim, process, mount, netns, veth, cgroup or runtime state', async () => {
    // The shim exits once its last task is deleted, a moment after RemovePodSandbox returns.
    await waitFor('the pod to be gone from the host', () => leftovers(env, pod).length === 0, 10_000, 20).catch(() => {});
    assert.deepEqual(leftovers(env, pod), []);
  });
}

test('containerd’s CRI plugin runs a pod on handler runc, then on handler berth (berth-runtime), step by step', { skip }, async (t) => {
  const env = await startCri(t);
  for (const handler of HANDLERS) await t.test(`handler ${handler}`, (h) => scenario(h, env, handler));
});
