// `berth tour`, run whole without a terminal (straight through), and interrupted with SIGINT at
// several points: each chapter shows what it says it shows (the chroot escape reaches the host's
// file and fails under pivot_root, the whiteout is a character device 0, 0, the busy loop's CPU
// share is 25-35 %, the OOM kill happens), and nothing of the tour is left behind: no container,
// mount, cgroup, runtime state or scratch directory.
//
// The same file runs on this hybrid host (v1 driver) and in the pure cgroup v2 guest
// (scripts/test-v2.sh). BERTH_TEST_SLOW=N scales the timeouts there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroupLayout, parseCgroupLayout } from '../src/cgroups/detect.js';
import { controllerMount, explainLayout } from '../src/tour/chapters/cgroups.js';
import { CHAPTERS, selectChapters } from '../src/tour/index.js';
import { BERTH, berthRoot, hostMountsMentioning, PROJECT } from './helpers/berth-cli.js';

const SLOW = Math.max(1, Number(process.env.BERTH_TEST_SLOW) || 1);
const notRoot = process.getuid?.() !== 0 ? 'needs root' : false;

interface Tour {
  status: number | null;
  signal: NodeJS.Signals | null;
  out: string;
}

/**
 * `berth tour ARGS` in `env`, stdin not a terminal. With `interruptAt`, SIGINT is sent `delayMs`
 * after the output first matches it (not scaled by BERTH_TEST_SLOW: the step it aims at, such as
 * the CPU measurement's window, lasts as long on a slow machine).
 */
function tour(env: NodeJS.ProcessEnv, args: string[], interruptAt?: { pattern: RegExp; delayMs: number }): Promise<Tour> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BERTH, 'tour', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000 * SLOW);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (interruptAt && !sent && interruptAt.pattern.test(out)) {
        sent = true;
        setTimeout(() => child.kill('SIGINT'), interruptAt.delayMs);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, out });
    });
  });
}

/** The tour's steps: the commands of each (its run of `$ ` lines) and the text after them, to the next step. */
function steps(out: string): { commands: string; body: string }[] {
  const found: { commands: string[]; body: string[] }[] = [];
  let previousWasCommand = false;
  for (const line of out.split('\n')) {
    const isCommand = line.startsWith('$ ');
    if (isCommand && !previousWasCommand) found.push({ commands: [], body: [] });
    const current = found[found.length - 1];
    if (current) (isCommand ? current.commands : current.body).push(line);
    previousWasCommand = isCommand;
  }
  return found.map((s) => ({ commands: s.commands.join('\n'), body: s.body.join('\n') }));
}

/** The one step whose commands match `pattern`. */
function stepOf(out: string, pattern: RegExp): { commands: string; body: string } {
  const found = steps(out).filter((s) => pattern.test(s.commands));
  assert.equal(found.length, 1, `one step matching ${pattern}, found ${found.length} in:\n${out}`);
  return found[0];
}

/** The lines a step printed as its output (`  | ...`). */
function outputOf(step: { body: string }): string[] {
  return step.body
    .split('\n')
    .filter((l) => l.startsWith('  | '))
    .map((l) => l.slice(4));
}

/** Where containers' cgroups are made: /berth in each hierarchy (v1) or in the one tree (v2). */
function berthCgroupDirs(): string[] {
  const layout = detectCgroupLayout();
  const mounts = [...layout.v1.map((h) => h.mountpoint), ...(layout.v2 ? [layout.v2] : [])];
  return mounts.map((m) => join(m, 'berth'));
}

/** Paths under each dir (none when it does not exist); with `dirsOnly`, its subdirectories alone (a cgroup's children, not its files). */
function entries(dirs: string[], dirsOnly = false): Set<string> {
  const found = new Set<string>();
  for (const dir of dirs) {
    try {
      for (const e of readdirSync(dir, { withFileTypes: true })) if (!dirsOnly || e.isDirectory()) found.add(join(dir, e.name));
    } catch {
      // not there
    }
  }
  return found;
}

const SCRATCH_PREFIX = 'berth-tour-';
const RUNTIME_STATE = '/run/berth/runtime';

/** What the host has now that the tour may leave: cgroups of berth's, runtime states, network namespaces, tour scratch dirs. */
function snapshot(): Set<string> {
  const scratch = readdirSync(tmpdir())
    .filter((n) => n.startsWith(SCRATCH_PREFIX))
    .map((n) => join(tmpdir(), n));
  return new Set([...entries(berthCgroupDirs(), true), ...entries([RUNTIME_STATE, '/run/netns']), ...scratch]);
}

/** Nothing of the tour is left: no container in its root, no mount of it, nothing new since `before`. */
function assertNothingLeft(root: string, before: Set<string>, out: string): void {
  const containers = existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')) : [];
  assert.deepEqual(containers, [], `containers left in ${root}\n${out}`);
  assert.deepEqual(hostMountsMentioning(root), [], `mounts left\n${out}`);
  assert.deepEqual(hostMountsMentioning(join(tmpdir(), SCRATCH_PREFIX)), [], `mounts left\n${out}`);
  const added = [...snapshot()].filter((p) => !before.has(p));
  assert.deepEqual(added, [], `left behind by the tour\n${out}`);
}

test('berth tour, whole and straight through: each chapter shows what it says, and leaves nothing', { skip: notRoot }, async (t) => {
  const { root, env } = berthRoot(t, 'tour');
  const before = snapshot();
  const started = performance.now();
  const r = await tour(env, []);
  t.diagnostic(`the whole tour: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(r.status, 0, r.out);
  assert.doesNotMatch(r.out, /✗|\(skipped/, 'every claim held, no chapter skipped on this host');
  for (let n = 1; n <= CHAPTERS.length; n++) assert.match(r.out, new RegExp(`^Chapter ${n} of ${CHAPTERS.length}: `, 'm'));
  assert.match(r.out, /No busybox image in the store: importing/, 'a fresh root: busybox imported first');

  // 1: the container exported as a tar, listed.
  const listing = outputOf(stepOf(r.out, /^\$ tar -tvf /m));
  assert.ok(listing.some((l) => / bin\/busybox$/.test(l)), listing.join('\n'));
  assert.match(listing[listing.length - 1], /^\d+$/, 'the count of entries');

  // 2: the escape reaches the host's file under chroot, and not under pivot_root.
  const [, secret] = /^\$ echo ([0-9a-f]+) > \S+ {4}# on the host$/m.exec(r.out) ?? [];
  assert.ok(secret, 'the host secret is shown');
  const chrootEscape = outputOf(stepOf(r.out, /--isolation chroot .*\/escape/));
  assert.ok(chrootEscape.includes(secret), `the secret read through the chroot escape:\n${chrootEscape.join('\n')}`);
  assert.match(chrootEscape.join('\n'), /cd \.\. +# [1-9]\d* times?/);
  const pivotEscape = outputOf(stepOf(r.out, /^\$ berth run --rm -i --network none busybox:tour sh -c .*\/escape/m));
  assert.ok(!pivotEscape.includes(secret), pivotEscape.join('\n'));
  assert.match(pivotEscape.join('\n'), /cd \.\. +# 0 times/);
  assert.match(pivotEscape.join('\n'), /No such file or directory/);

  // 3: PID 1 inside, another pid outside.
  const pid = outputOf(stepOf(r.out, /echo "my PID is/));
  assert.ok(pid.includes('my PID is 1'), pid.join('\n'));
  assert.ok(pid.some((l) => /^NSpid:\t\d+\t1$/.test(l)), pid.join('\n'));

  // 5: the whiteout, the untouched lower file, the opaque dir.
  const ls = outputOf(stepOf(r.out, /^\$ ls -l /m));
  assert.match(ls[0], /^c--------- \d+ 0 0 0, 0 \S+\/upper\/etc\/group$/);
  assert.match(ls[1], /^-rw-r--r-- 1 0 0 \d+ \S+\/storage\/layers\/\S+\/etc\/group$/);
  assert.equal(outputOf(stepOf(r.out, /^\$ getfattr /m))[0], 'trusted.overlay.opaque="y"');

  // 6: 30 % of one CPU (the last window measured), and the OOM kill.
  const cpu = outputOf(stepOf(r.out, /--cpus 0\.3 /)).filter((l) => /% of one CPU/.test(l));
  const share = Number(/^([\d.]+) % of one CPU/.exec(cpu[cpu.length - 1] ?? '')?.[1]);
  t.diagnostic(`measured: ${cpu.join('; ')}`);
  assert.ok(share >= 25 && share <= 35, `CPU share ${share} %:\n${cpu.join('\n')}`);
  const oom = outputOf(stepOf(r.out, /--memory 32m .*tail \/dev\/zero/));
  assert.ok(oom.some((l) => /exit status 137 .*OOMKilled true/.test(l)), oom.join('\n'));

  // 7: --explain, whole.
  const explained = outputOf(stepOf(r.out, /--explain/)).join('\n');
  assert.match(explained, /pivot_root \. \./);
  assert.match(explained, /^hello from /m);

  assertNothingLeft(root, before, r.out);
});

/** Where a tour is interrupted: the chapter run, the output that triggers the SIGINT, and how long after. */
// (chapter '' is the whole tour: at these points, too little of their own chapter is left to be sure the signal lands before its end.)
// `midStep`: the step is long enough (a container that spins for seconds) for the signal to cut it
// short for sure: its report never comes.
const INTERRUPTIONS: { what: string; chapter: string; pattern: RegExp; delayMs: number; midStep?: boolean }[] = [
  { what: 'while busybox is imported', chapter: '', pattern: /importing Debian's busybox-static/, delayMs: 0 },
  { what: 'as the container is exported', chapter: '', pattern: /^\$ berth export /m, delayMs: 0 },
  { what: 'as the chroot escape starts (an overlay mounted on the host)', chapter: 'chroot', pattern: /--isolation chroot .*\/escape/, delayMs: 20 },
  { what: 'while a container waits in read, its host-side look under way', chapter: 'namespaces', pattern: /^\$ grep NSpid/m, delayMs: 0 },
  { what: 'with a stopped container kept for a look at its upper dir', chapter: '', pattern: /^\$ ls -l /m, delayMs: 0 },
  { what: 'while the busy loop spins under its CPU quota', chapter: 'cgroups', pattern: /while it spins/, delayMs: 1000, midStep: true },
];

for (const point of INTERRUPTIONS) {
  test(`berth tour${point.chapter ? ` ${point.chapter}` : ''}, interrupted (SIGINT) ${point.what}: exit 130, nothing left`, { skip: notRoot }, async (t) => {
    const { root, env } = berthRoot(t, 'tour-int');
    const before = snapshot();
    const r = await tour(env, point.chapter ? [point.chapter] : [], { pattern: point.pattern, delayMs: point.delayMs });
    assert.equal(r.signal, null, `the tour ended on its own:\n${r.out}`);
    // A tour that finished before the signal landed would say so with 0: the test then proves nothing.
    assert.equal(r.status, 130, r.out);
    assert.match(r.out, /Interrupted: removing what the tour made/);
    assert.doesNotMatch(r.out, /could not remove/);
    if (point.midStep) assert.doesNotMatch(steps(r.out).find((s) => point.pattern.test(s.commands))?.body ?? '', /what it shows/, r.out);
    assertNothingLeft(root, before, r.out);
  });
}

/** `berth tour ARGS` on a real pseudo-terminal (test/helpers/pty-session.py plays the keyboard and screen). */
function tourInPty(env: NodeJS.ProcessEnv, args: string[], keys: object[]): { screen: string; exit: number; failed: unknown } {
  const r = spawnSync('python3', [join(PROJECT, 'test/helpers/pty-session.py'), process.execPath, BERTH, 'tour', ...args], {
    env,
    input: JSON.stringify(keys),
    encoding: 'utf8',
    timeout: 180_000 * SLOW,
  });
  assert.equal(r.status, 0, `pty driver failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

test('berth tour --step on a terminal: waits for Enter between steps; Ctrl-C at the prompt ends it, exit 130, nothing left', { skip: notRoot }, async (t) => {
  const { root, env } = berthRoot(t, 'tour-pty');
  const before = snapshot();
  const prompt = '\\[Enter: next step\\]';
  const r = tourInPty(env, ['namespaces', '--step'], [
    { expect: prompt, timeout: 60 * SLOW },
    { sleep: 1 },
    { send: 'go-on\n' },
    { expect: `hostname    # on the host[\\s\\S]*${prompt}`, timeout: 30 * SLOW },
    { send: '\u0003' },
    { expect: 'Interrupted: removing what the tour made', timeout: 30 * SLOW },
  ]);
  assert.equal(r.failed, null, r.screen);
  assert.equal(r.exit, 130, r.screen);
  // The second step began only after the keys were typed (the terminal echoed them at once).
  assert.ok(r.screen.indexOf('go-on') < r.screen.indexOf('--hostname tour-inside'), r.screen);
  assert.doesNotMatch(r.screen, /--tmpfs \/scratch/, 'the third step never ran');
  assertNothingLeft(root, before, r.screen);
});

test('berth tour with a chapter it does not have: one line naming the choices, exit 125, nothing made', { skip: notRoot }, async (t) => {
  const { root, env } = berthRoot(t, 'tour-bad');
  for (const bad of ['0', '8', 'overlay', 'namespaces extra']) {
    const r = await tour(env, bad.split(' '));
    assert.equal(r.status, 125, r.out);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, r.out);
    assert.match(lines[0], bad === 'namespaces extra' ? /^berth: tour: berth tour \[CHAPTER\] \[--step\]$/ : /^berth: tour: no chapter ".*": give 1-7 or one of rootfs, chroot, namespaces, pivot_root, overlayfs, cgroups, explain$/);
  }
  assert.deepEqual(readdirSync(root), [], 'no image imported, no container made');
});

test('chapters are chosen by number or name', () => {
  assert.deepEqual(selectChapters('6').map((c) => c.name), ['cgroups']);
  assert.deepEqual(selectChapters('pivot_root').map((c) => c.name), ['pivot_root']);
  assert.equal(selectChapters(undefined).length, 7);
});

test('the cgroup chapter on layouts this host does not have (parsed mountinfo: a mock of other hosts)', () => {
  // A v1 host with no memory hierarchy: the memory part says why and is skipped.
  const v1 = parseCgroupLayout(
    [
      '30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct',
      '31 25 0:27 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids',
    ].join('\n'),
  );
  assert.equal(v1.mode, 'legacy');
  assert.equal(controllerMount(v1, 'cpu'), '/sys/fs/cgroup/cpu,cpuacct');
  assert.equal(controllerMount(v1, 'memory'), null);
  assert.match(explainLayout(v1)[0].text, /^cgroup v1 only: one hierarchy per controller or pair \(cpu,cpuacct pids\)/);
  // A v2 host: the controllers are read from the real mount's cgroup.controllers, which this test cannot fake.
  const hybrid = parseCgroupLayout('30 25 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n40 25 0:30 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw');
  assert.equal(hybrid.mode, 'hybrid');
  assert.equal(controllerMount(hybrid, 'cpu'), null);
  assert.match(explainLayout(hybrid)[0].text, /^hybrid: cgroup v1 hierarchies, one per controller or pair \(memory\), .* a cgroup2 tree beside them at \/sys\/fs\/cgroup\/unified with no controller in it\.$/);
});
