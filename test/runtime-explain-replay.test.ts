// The promise of --explain, kept by doing it: the lines `berth-runtime run --dry-run` prints for a
// bundle, typed into a root bash as they are (read from its stdin, line by line: `unshare ... --fork`
// starts the shell that reads the next ones), make a container with the same namespaces, mounts,
// capabilities, ids, hostname, limits, umask and directory as `berth-runtime run` of that bundle.
// A probe run by both prints what it sees from inside.
//
// The lines after pivot_root run the container's own tools. The busybox rootfs gets the
// util-linux tools the lines name (mount, setpriv, prlimit) with their libraries, at their usual
// paths, before both runs: busybox's mount and setpriv do less (a `mount --rbind -o ro` that stays
// writable; no --bounding-set). The replay's bash forgets the paths it looked up before the root
// changed (`set +h`, through BASH_ENV: the only thing added to what it is typed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeBundle } from './helpers/bundle.js';
import { cgroupsMentioning, leftovers, runtime, show, tempRoot, unique } from './helpers/run.js';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

const NAMESPACES = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts', 'user'];

/** What the container's process sees, printed by busybox's sh. */
const PROBE = [
  `for n in ${NAMESPACES.join(' ')}; do echo "ns $n $(readlink /proc/self/ns/$n)"; done`,
  'grep -E "^(Cap|NoNewPrivs|Uid|Gid|Groups)" /proc/self/status',
  'echo "hostname $(hostname)"; echo "umask $(umask)"; echo "nofile $(ulimit -n)"; echo "cwd $(pwd)"',
  'cat /proc/self/mountinfo',
].join('; ');

/** util-linux's tools the lines run after pivot_root, with the libraries ldd names, copied into the rootfs. */
function addUtilLinux(rootfs: string): void {
  for (const tool of ['/usr/bin/mount', '/usr/bin/umount', '/usr/bin/setpriv', '/usr/bin/prlimit']) {
    const libraries = execFileSync('ldd', [tool], { encoding: 'utf8' }).match(/\/\S+/g) ?? [];
    for (const file of [tool, ...libraries]) {
      mkdirSync(join(rootfs, dirname(file)), { recursive: true });
      copyFileSync(file, join(rootfs, file));
    }
  }
}

interface Seen {
  /** Per namespace type: `host` (the test's own) or `new`. */
  namespaces: string[];
  /** Capabilities, no_new_privs, ids, hostname, umask, nofile, cwd: the probe's lines. */
  process: string[];
  /** Each mount: its point, its options, its type and the filesystem's options. */
  mounts: string[];
}

function parse(out: string): Seen {
  const lines = out.split('\n');
  const namespaces = NAMESPACES.map((n) => {
    const line = lines.find((l) => l.startsWith(`ns ${n} `));
    assert.ok(line, `no ${n} namespace line in:\n${out}`);
    return `${n}: ${line.slice(`ns ${n} `.length) === readlinkSync(`/proc/self/ns/${n}`) ? 'host' : 'new'}`;
  });
  const process = lines.filter((l) => /^(Cap|NoNewPrivs|Uid|Gid|Groups|hostname |umask |nofile |cwd )/.test(l)).map((l) => l.replace(/\s+/g, ' ').trim());
  const mounts = lines
    .filter((l) => /^\d+ \d+ \d+:\d+ /.test(l))
    .map((l) => {
      const fields = l.split(' ');
      const dash = fields.indexOf('-');
      return `${fields[4]} ${fields[5]} ${fields[dash + 1]} ${fields[dash + 3]}`;
    });
  return { namespaces, process, mounts };
}

test('the runtime\'s --explain lines, typed into bash, make the container berth-runtime run makes: namespaces, mounts, capabilities, ids, limits', { skip }, async (t) => {
  const root = tempRoot(t);
  const bundle = await makeBundle({ args: ['sh', '-c', PROBE], setup: addUtilLinux });
  t.after(bundle.cleanup);
  const real = unique('real');
  const replayed = unique('replay');
  // The replay's cgroup directories (its lines make them; nothing joins them): removed after.
  t.after(() => {
    for (const dir of cgroupsMentioning([replayed])) rmdirSync(dir);
  });

  const ran = runtime(root, 'run', '--bundle', bundle.dir, real);
  assert.equal(ran.status, 0, show(ran));
  const lines = runtime(root, 'run', '--dry-run', '--bundle', bundle.dir, replayed);
  assert.equal(lines.status, 0, show(lines));

  const bashEnv = join(bundle.dir, 'bash-env');
  writeFileSync(bashEnv, 'set +h\n');
  const replay = spawnSync('bash', [], {
    input: lines.stdout,
    cwd: '/',
    env: { PATH: process.env.PATH, SHELL: '/bin/bash', BASH_ENV: bashEnv, HOME: '/root' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const said = `--- the lines\n${lines.stdout}--- the replay's stderr\n${replay.stderr}`;
  assert.equal(replay.status, 0, said);

  const want = parse(ran.stdout);
  const got = parse(replay.stdout);
  assert.deepEqual(got.namespaces, want.namespaces, said);
  assert.deepEqual(got.process, want.process, said);
  assert.deepEqual(got.mounts, want.mounts, said);
  // Not vacuous: a container, not the host.
  assert.ok(want.namespaces.includes('mnt: new') && want.namespaces.includes('pid: new'), want.namespaces.join('\n'));
  assert.ok(want.mounts.some((m) => m.startsWith('/proc/keys ')), want.mounts.join('\n'));

  for (const dir of cgroupsMentioning([replayed])) rmdirSync(dir);
  assert.deepEqual(leftovers(root, [bundle.dir, real, replayed], bundle.rootfs), []);
});
