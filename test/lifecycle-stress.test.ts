// Detached containers under load and under crashes, through the CLI as a person uses it:
// 50 `berth run -d` from 10 processes at once; `berth run -d` killed with SIGKILL at random points
// of its work; and bad input to every verb. After each, `berth rm -f` must leave nothing of any
// container on the host: no directory, name, runtime state, cgroup, monitor, process, attach link,
// exit file or mount.
//
// The crashes: before each step of `run -d` (each filesystem change or process start, seen by a
// hook loaded with --import: test/helpers/crash-at.ts), then at random moments, which also land
// while berth waits for conmon and the runtime. The random loop logs its seed and each delay:
// BERTH_STRESS_SEED=N replays a run, BERTH_STRESS_CRASHES=N sets how many (15 by default).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { detectCgroupLayout } from '../src/cgroups/detect.js';
import { ImageStore } from '../src/image/index.js';
import { buildTestImage, busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { waitFor } from './helpers/run.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { launcherEnv, type Result } from './helpers/berth-cli.js';

const BERTH = fileURLToPath(new URL('../bin/berth.mjs', import.meta.url));
const RUNTIME = fileURLToPath(new URL('../bin/berth-runtime.mjs', import.meta.url));
const skip = process.getuid?.() !== 0 ? 'needs root' : busyboxAvailable() ? (existsSync('/usr/bin/conmon') ? false : 'conmon not installed') : BUSYBOX_MISSING_REASON;

/** The engine's fixed host paths (engine.ts, monitor.ts): shared by every BERTH_ROOT. */
const RUNTIME_ROOT = '/run/berth/runtime';
const SOCKET_DIR = '/run/berth/socket';
const IMAGE = 'stress:1';
// Containers are on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

/** Every cgroup hierarchy of this host: each v1 hierarchy and the cgroup2 mount beside them. */
const layout = detectCgroupLayout();
const CGROUP_MOUNTS = [...layout.v1.map((h) => h.mountpoint), ...(layout.v2 ? [layout.v2] : [])];

interface Root {
  root: string;
  berth: (...args: string[]) => Result;
  /** The same, without blocking the event loop (for commands run side by side). */
  berthAsync: (...args: string[]) => Promise<Result>;
}

/**
 * A BERTH_ROOT of the test's own with the busybox image in it. Afterwards, even after a failure:
 * every container removed by berth, then whatever berth failed to remove removed by hand (so that
 * a failing run does not leave containers running on the host), then the root.
 */
async function berthRoot(t: TestContext): Promise<Root> {
  const root = mkdtempSync('/tmp/berth-test-stress-');
  const env = launcherEnv({ ...process.env, BERTH_ROOT: root });
  const berth = (...args: string[]): Result => {
    const r = spawnSync(process.execPath, [BERTH, ...args], { env, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const berthAsync = (...args: string[]) =>
    new Promise<Result>((resolve) => {
      const child = spawn(process.execPath, [BERTH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });
  t.after(() => {
    const ids = berth('ps', '-aq', '--no-trunc').stdout.split('\n').filter(Boolean);
    if (ids.length) berth('rm', '-f', ...ids);
    forceCleanup(root);
    rmSync(root, { recursive: true, force: true });
  });
  await buildTestImage(new ImageStore(root), IMAGE);
  return { root, berth, berthAsync };
}

/** The last resort after a failed test: the runtime's delete, conmon killed, cgroups and links removed. */
function forceCleanup(root: string): void {
  for (const id of knownIds(root)) {
    spawnSync(process.execPath, [RUNTIME, '--root', RUNTIME_ROOT, 'delete', '--force', id], { stdio: 'ignore' });
    for (const dir of cgroupDirs(id)) {
      try {
        rmdirSync(dir);
      } catch {
        // still has processes: reported by the failed assertion already
      }
    }
    rmSync(join(SOCKET_DIR, id), { force: true });
  }
  for (const p of processesOf(root)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

function ok(r: Result): string {
  assert.equal(r.status, 0, `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Runtime state dirs of this root's containers (other BERTH_ROOTs share /run/berth/runtime). */
function runtimeStatesOf(root: string): string[] {
  return listDir(RUNTIME_ROOT).filter((id) => {
    const state = readOr(join(RUNTIME_ROOT, id, 'state.json'), '');
    return state.includes(`"${root}/`);
  });
}

/** Live processes (not zombies) whose command line or environment names this root: conmon, berth-runtime under it, exit commands. */
function processesOf(root: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const name of listDir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const cmdline = readOr(`/proc/${pid}/cmdline`, '').split('\0').join(' ');
    const environ = readOr(`/proc/${pid}/environ`, '');
    if (!cmdline.includes(root) && !environ.includes(`BERTH_ROOT=${root}\0`)) continue;
    const stat = readOr(`/proc/${pid}/stat`, '');
    if (stat === '' || /^\S+ \(.*\) [ZX]/.test(stat)) continue;
    out.push({ pid, cmdline });
  }
  return out;
}

/** The container's cgroup /berth/<id> in each hierarchy that has it. */
function cgroupDirs(id: string): string[] {
  return CGROUP_MOUNTS.map((m) => join(m, 'berth', id)).filter((d) => existsSync(d));
}

/**
 * Every container id this root has or had traces of: its container dirs, its runtime states, the
 * ids on its monitors' command lines, its exit files.
 */
function knownIds(root: string): Set<string> {
  const ids = new Set<string>([...listDir(join(root, 'containers')), ...runtimeStatesOf(root), ...listDir(join(root, 'exits'))]);
  for (const p of processesOf(root)) {
    const cid = /--cid ([0-9a-f]{64})/.exec(p.cmdline);
    if (cid) ids.add(cid[1]);
  }
  return new Set([...ids].filter((id) => /^[0-9a-f]{64}$/.test(id)));
}

/** Overlay (or any) mounts on the host naming this root. */
function mountsUnder(root: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(root));
}

/**
 * Nothing of any container of `root` (those in `ids`, and any it can find) is left on the host.
 * The exit commands conmon runs as it ends (`berth container cleanup`) get a moment to finish:
 * `rm` waits for conmon itself, not for the command it leaves behind.
 */
async function assertNothingLeft(root: string, ids: Iterable<string>, what: string): Promise<void> {
  const all = new Set([...ids, ...knownIds(root)]);
  await waitFor(`${what}: the monitors' exit commands to end`, () => processesOf(root).length === 0, 10_000, 20).catch(() => undefined);
  const leftovers: string[] = [];
  const note = (kind: string, items: string[]) => items.length && leftovers.push(`${kind}: ${items.join(', ')}`);
  note('container dirs', listDir(join(root, 'containers')));
  note('names', listDir(join(root, 'names')));
  note('exit files', listDir(join(root, 'exits')));
  note('runtime states', runtimeStatesOf(root));
  note('processes', processesOf(root).map((p) => `${p.pid} ${p.cmdline.slice(0, 120)}`));
  note('mounts', mountsUnder(root));
  for (const id of all) {
    note(`runtime state of ${id.slice(0, 12)}`, existsSync(join(RUNTIME_ROOT, id)) ? [join(RUNTIME_ROOT, id)] : []);
    note(`cgroups of ${id.slice(0, 12)}`, cgroupDirs(id));
    note(`attach link of ${id.slice(0, 12)}`, existsSync(join(SOCKET_DIR, id)) ? [join(SOCKET_DIR, id)] : []);
    note(`network namespace of ${id.slice(0, 12)}`, existsSync(`/run/netns/berth-${id.slice(0, 12)}`) ? [`/run/netns/berth-${id.slice(0, 12)}`] : []);
  }
  note('network leases', listDir(join(root, 'networks', 'leases')).flatMap((net) => listDir(join(root, 'networks', 'leases', net)).map((ip) => `${net}/${ip}`)));
  assert.deepEqual(leftovers, [], `${what}: left behind`);
}

/** `berth rm -f` of every container `ps -a` lists. */
function removeAll(r: Root): string[] {
  const ids = ok(r.berth('ps', '-aq', '--no-trunc')).split('\n').filter(Boolean);
  if (ids.length) ok(r.berth('rm', '-f', ...ids));
  return ids;
}

interface ContainerJson {
  id: string;
  name: string;
  state: { status: string; pid: number };
}

function records(root: string): ContainerJson[] {
  return listDir(join(root, 'containers'))
    .filter((id) => existsSync(join(root, 'containers', id, 'container.json')))
    .map((id) => JSON.parse(readFileSync(join(root, 'containers', id, 'container.json'), 'utf8')) as ContainerJson);
}

/** The process is alive (not a zombie) and runs `sleep`. */
function sleeping(pid: number): boolean {
  const stat = readOr(`/proc/${pid}/stat`, '');
  return /^\d+ \(sleep\) [^ZX]/.test(stat);
}

/** The cgroup paths of a process, one per hierarchy line of /proc/PID/cgroup. */
function cgroupsOf(pid: number): string[] {
  return readOr(`/proc/${pid}/cgroup`, '')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.slice(l.indexOf(':', l.indexOf(':') + 1) + 1));
}

test('50 containers from 10 parallel berth processes: all run, each in its own cgroup, names unique, and rm -f leaves nothing', { skip, timeout: 600_000 }, async (t) => {
  const r = await berthRoot(t);
  const started = await Promise.all(
    Array.from({ length: 10 }, async () => {
      const out: Result[] = [];
      for (let i = 0; i < 5; i++) out.push(await r.berthAsync('run', '-d', IMAGE, 'sleep', '1000'));
      return out;
    }),
  );
  const results = started.flat();
  for (const res of results) assert.match(ok(res), /^[0-9a-f]{64}\n$/);
  const ids = results.map((res) => res.stdout.trim());
  assert.equal(new Set(ids).size, 50, 'ids unique');

  const running = ok(r.berth('ps', '-q', '--no-trunc')).split('\n').filter(Boolean);
  assert.deepEqual([...running].sort(), [...ids].sort(), 'ps lists the 50 as running');
  const recs = records(r.root);
  assert.equal(recs.length, 50, 'every container.json parses');
  assert.equal(new Set(recs.map((c) => c.name)).size, 50, 'names unique');
  assert.deepEqual(listDir(join(r.root, 'names')).sort(), recs.map((c) => c.name).sort(), 'one name file per container');
  for (const c of recs) {
    assert.equal(c.state.status, 'running', c.id);
    assert.ok(sleeping(c.state.pid), `${c.id}: its pid ${c.state.pid} runs sleep`);
    // In every hierarchy (v1 controllers and the cgroup2 mount), its own /berth/<id> cgroup.
    const own = cgroupsOf(c.state.pid);
    assert.ok(own.length >= CGROUP_MOUNTS.length, `${c.id}: ${own.join(' ')}`);
    for (const path of own) assert.equal(path, `/berth/${c.id}`, `${c.id}: ${own.join(' ')}`);
    assert.equal(cgroupDirs(c.id).length, CGROUP_MOUNTS.length, `${c.id}: a cgroup in every hierarchy`);
  }
  const monitors = processesOf(r.root).filter((p) => p.cmdline.includes('conmon'));
  assert.equal(monitors.length, 50, 'one conmon per container');

  const pids = recs.map((c) => c.state.pid);
  removeAll(r);
  for (const pid of pids) assert.ok(!sleeping(pid), `container process ${pid} ended`);
  await assertNothingLeft(r.root, ids, 'rm -f of 50 containers');
  assert.equal(ok(r.berth('ps', '-aq')), '');
});

/**
 * `berth ps -a` succeeds, and what it says is true: each record in a known state, the same in
 * container.json; a running one's pid alive; a created one's process (if the runtime made one)
 * not yet released into its program. A second look says the same.
 */
function assertConsistent(r: Root, what: string): void {
  const ps = () => ok(r.berth('ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.State}}')).split('\n').filter(Boolean);
  const listed = ps();
  for (const line of listed) {
    const [id, state] = line.split(' ');
    assert.ok(['created', 'running', 'exited'].includes(state), `${what}: ${line}`);
    const record = JSON.parse(readFileSync(join(r.root, 'containers', id, 'container.json'), 'utf8')) as ContainerJson;
    assert.equal(record.state.status, state, `${what}: ps and container.json agree`);
    if (state === 'running') assert.ok(sleeping(record.state.pid), `${what}: running ${id} has a live pid (${record.state.pid})`);
    if (state === 'created') {
      const runtimePid = (JSON.parse(readOr(join(RUNTIME_ROOT, id, 'state.json'), '{"pid":0}')) as { pid: number }).pid;
      assert.ok(!runtimePid || !sleeping(runtimePid), `${what}: ${id} is said to be created, but its process ${runtimePid} runs its program`);
    }
  }
  assert.deepEqual(ps().sort(), [...listed].sort(), `${what}: ps -a is stable`);
}

/** After a crash: ps -a consistent, then `rm -f` of everything leaves nothing of any container. */
async function assertRecovers(r: Root, what: string): Promise<void> {
  assertConsistent(r, what);
  const ids = knownIds(r.root);
  removeAll(r);
  await assertNothingLeft(r.root, ids, what);
}

const CRASH_HOOK = fileURLToPath(new URL('./helpers/crash-at.js', import.meta.url));

/** `berth run -d` with the crash hook: killed just before its step `crashAt` (0: never); its steps written to `stepsFile`. */
function runWithHook(r: Root, crashAt: number, stepsFile?: string) {
  return spawnSync(process.execPath, [BERTH, 'run', '-d', IMAGE, 'sleep', '1000'], {
    env: { ...process.env, BERTH_ROOT: r.root, NODE_OPTIONS: `--import ${CRASH_HOOK}`, BERTH_CRASH_AT: String(crashAt), ...(stepsFile ? { BERTH_CRASH_STEPS: stepsFile } : {}) },
    encoding: 'utf8',
    timeout: 60_000,
  });
}

test('berth run -d killed with SIGKILL before each of its steps: ps -a stays consistent and rm -f cleans up everything', { skip, timeout: 900_000 }, async (t) => {
  const r = await berthRoot(t);
  ok(r.berth('run', '-d', IMAGE, 'true')); // the image's layers unpacked: not a step of every run
  removeAll(r);
  // The steps of one run, as the hook sees them: every filesystem change and process start.
  const stepsFile = join(r.root, 'steps');
  const clean = runWithHook(r, 0, stepsFile);
  assert.equal(clean.status, 0, clean.stderr);
  const steps = readFileSync(stepsFile, 'utf8').trim().split('\n');
  assert.ok(steps.length >= 20 && steps.some((s) => / spawn .*conmon/.test(s)), `the hook sees the steps of run -d:\n${steps.join('\n')}`);
  removeAll(r);
  await assertNothingLeft(r.root, [], 'the uncrashed run');

  for (let at = 1; at <= steps.length; at++) {
    const what = `killed before step ${steps[at - 1].replace(/[0-9a-f]{64}/g, 'ID')}`;
    await t.test(what, async () => {
      try {
        const crashed = runWithHook(r, at);
        assert.equal(crashed.signal, 'SIGKILL', `${what}: the hook killed it (exit ${crashed.status}, ${crashed.stderr})`);
        assertConsistent(r, what);
      } finally {
        // Cleaned up and checked whatever the consistency check said, so that the next step starts afresh.
        const ids = knownIds(r.root);
        removeAll(r);
        await assertNothingLeft(r.root, ids, what);
      }
    });
  }
});

/** mulberry32: a small seeded generator, so that a failing sequence of delays can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// Between its steps berth also waits: for conmon, while berth-runtime creates the container under
// it. Kills at random moments land there too.
test('berth run -d killed with SIGKILL at random moments: ps -a stays consistent and rm -f cleans up everything', { skip, timeout: 900_000 }, async (t) => {
  const r = await berthRoot(t);
  const seed = Number(process.env.BERTH_STRESS_SEED ?? Date.now() % 1_000_000);
  const crashes = Number(process.env.BERTH_STRESS_CRASHES ?? 15);
  const random = seeded(seed);
  // How long one uncrashed `run -d` takes here, once the image's layers are unpacked by a first
  // one: the delays spread over all of it (and a little past).
  ok(r.berth('run', '-d', IMAGE, 'sleep', '1000'));
  const t0 = performance.now();
  ok(r.berth('run', '-d', IMAGE, 'sleep', '1000'));
  const full = performance.now() - t0;
  removeAll(r);
  await assertNothingLeft(r.root, [], 'the timing runs');
  const span = Math.max(400, Math.round(full * 1.1));
  t.diagnostic(`seed ${seed} (BERTH_STRESS_SEED=${seed} replays it); one run -d takes ${Math.round(full)} ms; delays in [0, ${span}) ms`);

  for (let i = 0; i < crashes; i++) {
    const delay = Math.floor(random() * span);
    const child = spawn(process.execPath, [BERTH, 'run', '-d', IMAGE, 'sleep', '1000'], { env: { ...process.env, BERTH_ROOT: r.root }, stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise((resolve) => setTimeout(resolve, delay));
    const killed = child.kill('SIGKILL');
    const code = await exited;
    const what = `crash ${i} (seed ${seed}, delay ${delay} ms${killed && code === null ? '' : `, run -d had already exited ${code}`})`;
    t.diagnostic(what);
    await assertRecovers(r, what);
  }
});

/** The host's view of a root and its containers, to compare before and after a refused command. */
function snapshot(root: string, ids: string[]) {
  return {
    containers: listDir(join(root, 'containers')).sort(),
    names: listDir(join(root, 'names')).sort(),
    exits: listDir(join(root, 'exits')).sort(),
    states: runtimeStatesOf(root).sort(),
    processes: processesOf(root).map((p) => p.cmdline).sort(),
    cgroups: ids.flatMap(cgroupDirs).sort(),
    mounts: mountsUnder(root),
  };
}

/** A refusal: non-zero, nothing on stdout, one line on stderr naming what was wrong. */
function assertRefused(res: Result, status: number | number[], pattern: RegExp, what: string): void {
  const allowed = Array.isArray(status) ? status : [status];
  assert.ok(allowed.includes(res.status ?? -1), `${what}: exit ${res.status}, wanted ${allowed.join(' or ')}\n${res.stderr}`);
  assert.equal(res.stdout, '', `${what}: stdout`);
  assert.match(res.stderr, /^berth: [^\n]+\n$/, `${what}: one line on stderr`);
  assert.match(res.stderr, pattern, `${what}: the error names the problem`);
}

test('bad input to the lifecycle verbs: a one-line error, a non-zero exit and nothing left behind', { skip, timeout: 300_000 }, async (t) => {
  const r = await berthRoot(t);
  const running = ok(r.berth('run', '-d', '--name', 'taken', IMAGE, 'sleep', '1000')).trim();
  const stopped = ok(r.berth('create', '--name', 'stopped', IMAGE, 'true')).trim();
  const before = snapshot(r.root, [running, stopped]);

  // Verbs that take several containers answer per container, as docker: 1 when one failed.
  // The others fail as a whole: berth's own error, 125.
  const unknown: [string, string[]][] = [
    ['start', []],
    ['stop', []],
    ['kill', []],
    ['restart', []],
    ['pause', []],
    ['rm', []],
    ['rm', ['-f']],
    ['wait', []],
    ['logs', []],
    ['inspect', []],
    ['attach', []],
    ['top', []],
  ];
  for (const [verb, flags] of unknown) {
    assertRefused(r.berth(verb, ...flags, 'no-such-ctr'), [1, 125], /no such (container|image|object): no-such-ctr/i, `${verb} ${flags.join(' ')} of an unknown container`);
  }
  assertRefused(r.berth('exec', 'no-such-ctr', 'true'), 125, /No such container: no-such-ctr/, 'exec in an unknown container');
  assertRefused(r.berth('rename', 'no-such-ctr', 'fresh'), 125, /No such container: no-such-ctr/, 'rename of an unknown container');
  assertRefused(r.berth('container', 'inspect', 'no-such-ctr'), 125, /No such container: no-such-ctr/, 'container inspect of an unknown container');

  assertRefused(r.berth('run', '-d', '--name', 'taken', IMAGE, 'sleep', '1000'), 125, /"\/taken" is already in use/, 'run -d with a name in use');
  assertRefused(r.berth('create', '--name', 'stopped', IMAGE, 'true'), 125, /"\/stopped" is already in use/, 'create with a name in use');
  assertRefused(r.berth('rename', 'stopped', 'taken'), 125, /"\/taken" is already in use/, 'rename to a name in use');
  assertRefused(r.berth('run', '-d', '--name', 'bad/name', IMAGE, 'true'), 125, /invalid container name "bad\/name"/, 'run -d with an invalid name');
  assertRefused(r.berth('exec', 'stopped', 'true'), 125, /container stopped is not running/, 'exec in a created container');
  assertRefused(r.berth('run', '-d', '--restart', 'bogus', IMAGE, 'true'), 125, /--restart bogus/, '--restart bogus');
  assertRefused(r.berth('run', '-d', '--restart', 'on-failure:x', IMAGE, 'true'), 125, /--restart on-failure:x/, '--restart on-failure:x');
  assertRefused(r.berth('run', '-d', '--restart', 'always', '--rm', IMAGE, 'true'), 125, /--restart and --rm/, '--restart always --rm');
  // An unknown image is looked for in a registry first (docker's "Unable to find image ... locally"
  // line, then the error), where berth pulls: the error is the last line.
  const unknownImage = r.berth('run', '-d', 'no-such-image:1', 'true');
  assert.equal(unknownImage.status, 125, unknownImage.stderr);
  assert.equal(unknownImage.stdout, '');
  assert.match(unknownImage.stderr, /^(Unable to find image 'no-such-image:1' locally\n)?berth: [^\n]*no-such-image[^\n]*\n$/, 'run -d of an unknown image');

  assert.deepEqual(snapshot(r.root, [running, stopped]), before, 'nothing left behind by the refused commands');
  // And the containers that were there are as they were.
  assert.equal(ok(r.berth('inspect', '-f', '{{.State.Status}}', 'taken')), 'running\n');
  assert.equal(ok(r.berth('inspect', '-f', '{{.State.Status}}', 'stopped')), 'created\n');
  // After an exit, exec is refused the same way.
  ok(r.berth('stop', '-t', '0', 'taken'));
  assertRefused(r.berth('exec', 'taken', 'true'), 125, /container taken is not running/, 'exec in an exited container');

  removeAll(r);
  await assertNothingLeft(r.root, [running, stopped], 'rm -f after the bad input');
});
