// The library's cgroup setup + teardown, in one Node process, with the resources bench/cgroups.sh
// gives the runtimes (RESOURCES below). Plain JS over the built dist/ (npm run build).
//
//   node bench/cgroups-lib.mjs time PARENT MODE [RUNS] [WARMUP]
//     Times RUNS iterations (after WARMUP untimed ones) of, per iteration i, in cgroup PARENT/<x>i:
//       MODE empty:   openCgroup(path).create(RESOURCES), then destroy(): an empty cgroup.
//       MODE process: create(RESOURCES), addProcess(pid of a `sleep 10` child), destroy() (which
//                     SIGKILLs the child and waits until the cgroup is empty). The child is
//                     spawned before the clock starts and reaped after it stops: the figure is
//                     the cgroup's work and the wait for the process to leave, not fork/exec.
//     Before timing, one untimed iteration is checked: the limits read back from the cgroup
//     files must be RESOURCES' (else exit 1).
//     Prints JSON: { command, times: [s...], median: s, phases: { create, add, destroy } } with
//     phases as medians in seconds (hyperfine's units, as bench/lib-spawn.mjs).
//
//   node bench/cgroups-lib.mjs check PATH [LABEL]
//     Reads the limits of the existing cgroup PATH (cgroupfs-relative, as /berth-bench-1/crun)
//     and says whether they are RESOURCES'; exit 1 if not. cgroups.sh runs it on each runtime's
//     cgroup between its create and its delete, so that every row is known to set the same limits.
//
//   node bench/cgroups-lib.mjs resources
//     Prints RESOURCES as JSON (the linux.resources cgroups.sh writes into config.json).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));
const { openCgroup } = await import(join(dist, 'cgroups/open.js'));
const { containerDeviceRules } = await import(join(dist, 'cgroups/device-rules.js'));
const { sharesToWeight } = await import(join(dist, 'cgroups/resources.js'));

/** The spec's linux.resources: what config.json gets (the runtimes add their default devices). */
const SPEC_RESOURCES = {
  cpu: { shares: 512, quota: 50000, period: 100000 },
  memory: { limit: 256 * 1024 * 1024 },
  pids: { limit: 100 },
  devices: [{ allow: false, access: 'rwm' }],
};
/** What the library is given: the spec's, with berth's default device rules after (as the runtime does). */
const RESOURCES = { ...SPEC_RESOURCES, devices: containerDeviceRules(SPEC_RESOURCES.devices) };

const [cmd, ...args] = process.argv.slice(2);
const usage = () => {
  process.stderr.write('usage: node bench/cgroups-lib.mjs time PARENT empty|process [RUNS] [WARMUP]\n       node bench/cgroups-lib.mjs check PATH [LABEL]\n       node bench/cgroups-lib.mjs resources\n');
  process.exit(2);
};

/** The first of the cgroup's directories that has `name` (v1: one directory per hierarchy). */
function readLimitFile(cg, name) {
  for (const dir of cg.dirs()) {
    try {
      return readFileSync(join(dir, name), 'utf8').trim();
    } catch {
      /* not in this hierarchy */
    }
  }
  return undefined;
}

/** Problems with the limits of `cg` (empty: they are RESOURCES'), and a one-line summary. */
function checkLimits(cg) {
  const expected =
    cg.version === 1
      ? {
          'cpu.cfs_quota_us': '50000',
          'cpu.cfs_period_us': '100000',
          'cpu.shares': '512',
          'memory.limit_in_bytes': String(SPEC_RESOURCES.memory.limit),
          'pids.max': '100',
        }
      : {
          'cpu.max': '50000 100000',
          // runc and crun 1.8 convert shares to weight with the same formula as berth.
          'cpu.weight': String(sharesToWeight(512)),
          'memory.max': String(SPEC_RESOURCES.memory.limit),
          'pids.max': '100',
        };
  const problems = [];
  const seen = [];
  for (const [name, want] of Object.entries(expected)) {
    const got = readLimitFile(cg, name);
    seen.push(`${name}=${got ?? '(none)'}`);
    if (got !== want) problems.push(`${name} is ${got ?? 'missing'}, expected ${want}`);
  }
  if (cg.version === 1) {
    // Deny-all first, then the defaults: devices.list holds the allowed ones, and not "a *:* rwm".
    const list = readLimitFile(cg, 'devices.list') ?? '';
    const lines = list.split('\n').filter(Boolean);
    seen.push(`devices.list=${lines.length} rules`);
    if (lines.includes('a *:* rwm')) problems.push('devices.list still allows every device (a *:* rwm)');
    if (!lines.includes('c 1:3 rwm')) problems.push('devices.list does not allow /dev/null (c 1:3 rwm)');
  } else {
    // No bpftool here to list the attached program; the library's own attach throws when it fails.
    seen.push('devices=eBPF (not read back)');
  }
  return { problems, summary: seen.join(' ') };
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const now = () => process.hrtime.bigint();
const secs = (a, b) => Number(b - a) / 1e9;

/** A `sleep 10` child, running (exec'd) before it is returned. */
function sleeper() {
  return new Promise((resolve, reject) => {
    const child = spawn('sleep', ['10'], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('spawn', () => resolve(child));
  });
}

const exited = (child) => (child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r())));

/** One iteration in cgroup `path`; the three phases' times in seconds. */
async function once(path, mode, check = false) {
  const child = mode === 'process' ? await sleeper() : undefined;
  const t0 = now();
  const cg = openCgroup(path);
  cg.create(RESOURCES);
  const t1 = now();
  if (child) cg.addProcess(child.pid);
  const t2 = now();
  if (check) {
    const { problems, summary } = checkLimits(cg);
    process.stderr.write(`bench: library cgroup ${path} (v${cg.version}): ${summary}\n`);
    if (child && !cg.pids().includes(child.pid)) problems.push(`the sleep child ${child.pid} is not in the cgroup`);
    if (problems.length) {
      child?.kill('SIGKILL');
      await cg.destroy();
      throw new Error(`library cgroup ${path}: ${problems.join('; ')}`);
    }
  }
  const t3 = now();
  await cg.destroy();
  const t4 = now();
  if (child) {
    await exited(child);
    if (child.signalCode !== 'SIGKILL') throw new Error(`the sleep child ended with ${child.exitCode ?? child.signalCode}, expected SIGKILL from destroy()`);
  }
  return { total: secs(t0, t2) + secs(t3, t4), create: secs(t0, t1), add: secs(t1, t2), destroy: secs(t3, t4) };
}

if (cmd === 'resources') {
  process.stdout.write(JSON.stringify(SPEC_RESOURCES) + '\n');
} else if (cmd === 'check') {
  const [path, label = path] = args;
  if (!path) usage();
  const { problems, summary } = checkLimits(openCgroup(path));
  process.stderr.write(`bench: ${label} cgroup ${path}: ${summary}\n`);
  if (problems.length) {
    process.stderr.write(`bench: ${label}: ${problems.join('; ')}\n`);
    process.exit(1);
  }
} else if (cmd === 'time') {
  const [parent, mode, runsArg = '50', warmupArg = '5'] = args;
  if (!parent || (mode !== 'empty' && mode !== 'process')) usage();
  const runs = Number(runsArg);
  const warmup = Number(warmupArg);
  const tag = mode === 'empty' ? 'c' : 'p';
  await once(`${parent}/${tag}check`, mode, true);
  for (let i = 0; i < warmup; i++) await once(`${parent}/${tag}w${i}`, mode);
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await once(`${parent}/${tag}${i}`, mode));
  const command = mode === 'empty' ? 'library create+destroy (empty)' : 'library create+addProcess+destroy (1 process)';
  const phases = Object.fromEntries(['create', 'add', 'destroy'].map((k) => [k, median(results.map((r) => r[k]))]));
  const times = results.map((r) => r.total);
  process.stdout.write(JSON.stringify({ command, times, median: median(times), phases }) + '\n');
} else {
  usage();
}
