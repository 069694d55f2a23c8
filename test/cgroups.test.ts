// The cgroup layer: cgroupsPath parsing; the v2 driver on a fake cgroupfs tree (which files, which
// values, which order); the v1 driver's plan on a fake v1 layout; and the host's own driver, for
// real, under a unique test parent (/berth-test-<pid>-<random>/) removed afterwards.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { detectCgroupLayout, type CgroupLayout } from '../src/cgroups/detect.js';
import type { CgroupDriver, CgroupOp } from '../src/cgroups/driver.js';
import { openCgroup } from '../src/cgroups/open.js';
import { CgroupError } from '../src/cgroups/errors.js';
import { renderCgroupOps } from '../src/cgroups/explain.js';
import { parseCgroupsPath } from '../src/cgroups/path.js';
import { sharesToWeight } from '../src/cgroups/resources.js';
import type { Resources } from '../src/oci/runtime-spec.js';

const MiB = 1024 * 1024;

/** The CgroupError `fn` throws; fails the test when it throws something else or nothing. */
function refusal(fn: () => unknown): CgroupError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CgroupError, `expected a CgroupError, got ${String(err)}`);
    return err;
  }
  assert.fail('accepted');
}

describe('parseCgroupsPath', () => {
  const cases: [string | undefined, string][] = [
    [undefined, '/berth/c1'],
    ['', '/berth/c1'],
    ['/a/b', '/a/b'],
    ['/berth/custom', '/berth/custom'],
    // Relative: under /berth, never under the caller's own cgroup.
    ['mine', '/berth/mine'],
    ['a/b', '/berth/a/b'],
    // systemd's slice:prefix:name, laid out as systemd would.
    ['system.slice:berth:abc', '/system.slice/berth-abc.scope'],
    [':berth:abc', '/system.slice/berth-abc.scope'],
    ['a-b.slice:berth:abc', '/a.slice/a-b.slice/berth-abc.scope'],
    ['a-b-c.slice:p:n', '/a.slice/a-b.slice/a-b-c.slice/p-n.scope'],
    ['-.slice:berth:abc', '/berth-abc.scope'],
    ['user.slice::abc', '/user.slice/abc.scope'],
    ['system.slice:berth:system-pods.slice', '/system.slice/system-pods.slice'],
    ['-.slice:berth:pods.slice', '/pods.slice'],
    // Not the systemd form (no slice first): a relative path with colons.
    ['x:y:z', '/berth/x:y:z'],
  ];
  for (const [input, expected] of cases) {
    test(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(parseCgroupsPath(input, 'c1'), expected));
  }

  const refused: [string, RegExp][] = [
    ['/a/../b', /"\.\." component/],
    ['../escape', /"\.\." component/],
    ['/a/./b', /"\." component/],
    ['/a//b', /empty component/],
    ['/a/b/', /empty component/],
    ['/', /below the root/],
    ['/a\0b', /NUL/],
    ['a--b.slice:p:n', /not a valid slice name/],
    ['-a.slice:p:n', /not a valid slice name/],
    ['system.slice:p:pods.slice', /does not lie inside system\.slice.*system-pods\.slice/],
  ];
  for (const [input, problem] of refused) {
    test(`refused: ${JSON.stringify(input)}`, () => {
      const err = refusal(() => parseCgroupsPath(input, 'c1'));
      assert.equal(err.field, 'linux.cgroupsPath');
      assert.match(err.message, /^linux\.cgroupsPath: /);
      assert.match(err.message, problem);
    });
  }

  test('an id that is not one path component is refused too', () => {
    assert.match(refusal(() => parseCgroupsPath(undefined, '..')).message, /linux\.cgroupsPath/);
  });
});

test('cpu.shares → cpu.weight, the standard conversion', () => {
  assert.equal(sharesToWeight(2), 1);
  assert.equal(sharesToWeight(1024), 39);
  assert.equal(sharesToWeight(262144), 10000);
});

// ---------------------------------------------------------------------------------------------
// v2 on a fake tree. A real cgroupfs makes a cgroup's files at mkdir and shows subtree_control
// as the resulting set; a plain directory does neither, so the harness below does it after
// each step. The driver runs its real code path: files opened for writing without O_CREAT.

/** Files of a v2 cgroup, by controller, with the values a fresh one has. */
const V2_FILES: Record<string, Record<string, string>> = {
  '': { 'cgroup.type': 'domain', 'cgroup.procs': '', 'cgroup.subtree_control': '', 'cgroup.events': 'populated 0\nfrozen 0', 'cgroup.freeze': '0', 'cgroup.kill': '', 'cpu.stat': 'usage_usec 0\nuser_usec 0\nsystem_usec 0' },
  cpu: { 'cpu.max': 'max 100000', 'cpu.weight': '100', 'cpu.max.burst': '0', 'cpu.idle': '0' },
  cpuset: { 'cpuset.cpus': '', 'cpuset.mems': '' },
  memory: { 'memory.max': 'max', 'memory.high': 'max', 'memory.low': '0', 'memory.swap.max': 'max', 'memory.current': '0', 'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0' },
  // No io.bfq.weight: this fake kernel has no BFQ, so the driver falls back to io.weight.
  io: { 'io.weight': 'default 100', 'io.max': '' },
  hugetlb: { 'hugetlb.2MB.max': 'max', 'hugetlb.1GB.max': 'max' },
  pids: { 'pids.max': 'max', 'pids.current': '0' },
};

function fakeV2Root(controllers = 'cpuset cpu io memory hugetlb pids'): string {
  const root = mkdtempSync(join(tmpdir(), 'berth-fake-cgroup2-'));
  // The root cgroup: no cgroup.type, no cgroup.freeze (as on a real one).
  writeFileSync(join(root, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(root, 'cgroup.subtree_control'), '\n');
  writeFileSync(join(root, 'cgroup.procs'), '1\n');
  return root;
}

const words = (file: string) => readFileSync(file, 'utf8').split(/\s+/).filter(Boolean);

/** What the kernel does at mkdir: the files of the controllers the parent enables. */
function populateV2(dir: string): void {
  const controllers = words(join(dirname(dir), 'cgroup.subtree_control'));
  writeFileSync(join(dir, 'cgroup.controllers'), `${controllers.join(' ')}\n`);
  for (const group of ['', ...controllers]) for (const [name, value] of Object.entries(V2_FILES[group] ?? {})) writeFileSync(join(dir, name), `${value}\n`);
}

/** Runs `ops` one at a time as the driver would, with the kernel's side effects done by hand; returns the writes made. */
function runOnFake(driver: CgroupDriver, ops: CgroupOp[]): string[] {
  const log: string[] = [];
  for (const op of ops) {
    if (op.op === 'attachDeviceFilter') {
      log.push(`attach ${op.path}`); // the eBPF program needs a real cgroup: asserted in the plan, not run here
      continue;
    }
    if (op.op === 'write' && op.path.endsWith('/cgroup.subtree_control')) {
      const before = words(op.path);
      driver.apply([op]);
      const changes = op.value.split(' ');
      const after = [...before.filter((c) => !changes.includes(`-${c}`)), ...changes.filter((c) => c.startsWith('+')).map((c) => c.slice(1)).filter((c) => !before.includes(c))];
      writeFileSync(op.path, `${after.join(' ')}\n`);
    } else {
      driver.apply([op]);
    }
    if (op.op === 'mkdir') populateV2(op.path);
    log.push(op.op === 'mkdir' ? `mkdir ${op.path}` : `write ${op.path}`);
  }
  return log;
}

const read = (file: string) => readFileSync(file, 'utf8').trim();

/** Directories under `dir`, to show that nothing was made. */
function treeOf(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe('v2 driver on a fake cgroupfs tree (this host has no v2 controllers)', () => {
  let root: string;
  before(() => {
    root = fakeV2Root();
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const resources: Resources = {
    cpu: { shares: 1024, quota: 30000, period: 100000, cpus: '0', mems: '0', idle: 0 },
    memory: { limit: 64 * MiB, swap: 96 * MiB, reservation: 32 * MiB, swappiness: 60, disableOOMKiller: false },
    pids: { limit: 32 },
    blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1048576 }] },
    hugepageLimits: [{ pageSize: '2MB', limit: 4 * MiB }],
    devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }],
    unified: { 'memory.high': '60M', 'pids.max': '16' },
  };

  test('create: subtree_control on each ancestor, then the files of the resources, in order', () => {
    const driver = openCgroup('/berth-test/c1', { mountRoot: root });
    assert.equal(driver.version, 2);
    assert.deepEqual(driver.dirs(), [join(root, 'berth-test/c1')]);
    const leaf = (name: string) => join(root, 'berth-test/c1', name);
    const ops = driver.planCreate(resources);
    assert.deepEqual(ops, [
      { op: 'write', path: join(root, 'cgroup.subtree_control'), value: '+cpuset +cpu +io +memory +hugetlb +pids' },
      { op: 'mkdir', path: join(root, 'berth-test') },
      { op: 'write', path: join(root, 'berth-test/cgroup.subtree_control'), value: '+cpuset +cpu +io +memory +hugetlb +pids' },
      { op: 'mkdir', path: join(root, 'berth-test/c1') },
      { op: 'write', path: leaf('cpu.weight'), value: '39' },
      { op: 'write', path: leaf('cpu.max'), value: '30000 100000' },
      { op: 'write', path: leaf('cpu.idle'), value: '0' },
      { op: 'write', path: leaf('cpuset.cpus'), value: '0' },
      { op: 'write', path: leaf('cpuset.mems'), value: '0' },
      { op: 'write', path: leaf('memory.max'), value: String(64 * MiB) },
      // OCI swap is memory+swap; v2's memory.swap.max is swap alone.
      { op: 'write', path: leaf('memory.swap.max'), value: String(32 * MiB) },
      { op: 'write', path: leaf('memory.low'), value: String(32 * MiB) },
      { op: 'write', path: leaf('pids.max'), value: '32' },
      { op: 'write', path: leaf('io.bfq.weight'), value: '500', ifMissing: { path: leaf('io.weight'), value: 'default 4950' } },
      { op: 'write', path: leaf('io.max'), value: '8:0 rbps=1048576' },
      { op: 'write', path: leaf('hugetlb.2MB.max'), value: String(4 * MiB) },
      { op: 'attachDeviceFilter', path: join(root, 'berth-test/c1'), rules: resources.devices },
      // unified last: it has the last word (pids.max 16 over the 32 above).
      { op: 'write', path: leaf('memory.high'), value: '60M' },
      { op: 'write', path: leaf('pids.max'), value: '16' },
    ]);

    runOnFake(driver, ops);
    assert.equal(read(join(root, 'cgroup.subtree_control')), 'cpuset cpu io memory hugetlb pids');
    assert.equal(read(join(root, 'berth-test/cgroup.controllers')), 'cpuset cpu io memory hugetlb pids');
    assert.equal(read(leaf('cpu.max')), '30000 100000');
    assert.equal(read(leaf('cpu.weight')), '39');
    assert.equal(read(leaf('memory.max')), String(64 * MiB));
    assert.equal(read(leaf('memory.swap.max')), String(32 * MiB));
    assert.equal(read(leaf('io.weight')), 'default 4950', 'no io.bfq.weight here: the generic io.weight, converted');
    assert.ok(!existsSync(leaf('io.bfq.weight')), 'the driver never creates a file');
    assert.equal(read(leaf('hugetlb.2MB.max')), String(4 * MiB));
    assert.equal(read(leaf('memory.high')), '60M');
    assert.equal(read(leaf('pids.max')), '16');
  });

  test('a second container under the same parent: nothing to enable, one mkdir', () => {
    const driver = openCgroup('/berth-test/c2', { mountRoot: root });
    assert.deepEqual(driver.planCreate({ pids: { limit: -1 } }), [
      { op: 'mkdir', path: join(root, 'berth-test/c2') },
      { op: 'write', path: join(root, 'berth-test/c2/pids.max'), value: 'max' },
    ]);
  });

  test('cpu: -1 quota is "max" with the period; shares alone write cpu.weight only; memory -1 is max for memory and swap', () => {
    const driver = openCgroup('/berth-test/c3', { mountRoot: root });
    const writes = (r: Resources) => driver.planCreate(r).flatMap((op) => (op.op === 'write' ? [`${op.path.slice(op.path.lastIndexOf('/') + 1)}=${op.value}`] : []));
    assert.deepEqual(writes({ cpu: { quota: -1, period: 50000 } }), ['cpu.max=max 50000']);
    assert.deepEqual(writes({ cpu: { shares: 2 } }), ['cpu.weight=1']);
    assert.deepEqual(writes({ memory: { limit: -1 } }), ['memory.max=max', 'memory.swap.max=max']);
    assert.deepEqual(writes({ memory: { limit: 64 * MiB, swap: -1 } }), [`memory.max=${64 * MiB}`, 'memory.swap.max=max']);
    assert.deepEqual(writes({ pids: { limit: 0 } }), ['pids.max=max']);
  });

  test('process, pids, stats, OOM, freeze and kill read and write the v2 files', async () => {
    const driver = openCgroup('/berth-test/c1', { mountRoot: root });
    const leaf = (name: string) => join(root, 'berth-test/c1', name);
    assert.deepEqual(driver.planAddProcess(4242), [{ op: 'write', path: leaf('cgroup.procs'), value: '4242' }]);
    writeFileSync(leaf('cgroup.procs'), '4242\n4243\n');
    mkdirSync(leaf('inner'));
    writeFileSync(leaf('inner/cgroup.procs'), '4300\n');
    assert.deepEqual(driver.pids(), [4242, 4243, 4300]);
    writeFileSync(leaf('cpu.stat'), 'usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 700\n');
    writeFileSync(leaf('memory.current'), '1048576\n');
    writeFileSync(leaf('memory.events'), 'low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n');
    writeFileSync(leaf('pids.current'), '3\n');
    assert.deepEqual(driver.stats(), {
      cpu: { usageUsec: 5000, userUsec: 3000, systemUsec: 2000, throttledUsec: 700, nrThrottled: 4 },
      memory: { usage: 1048576, limit: 64 * MiB, maxUsage: undefined, oomKills: 1, oomEvents: 2 },
      pids: { current: 3, limit: 16 },
    });
    assert.equal(driver.oomKilled(), true);

    // freeze: cgroup.freeze 1, then wait for the kernel's cgroup.events "frozen 1" (written here a little later).
    setTimeout(() => writeFileSync(leaf('cgroup.events'), 'populated 1\nfrozen 1\n'), 50);
    await driver.freeze();
    assert.equal(read(leaf('cgroup.freeze')), '1');
    assert.equal(driver.isFrozen(), true);
    setTimeout(() => writeFileSync(leaf('cgroup.events'), 'populated 1\nfrozen 0\n'), 50);
    await driver.thaw();
    assert.equal(read(leaf('cgroup.freeze')), '0');
    assert.equal(driver.isFrozen(), false);

    writeFileSync(leaf('cgroup.procs'), '\n');
    writeFileSync(leaf('inner/cgroup.procs'), '\n');
    driver.kill();
    assert.equal(read(leaf('cgroup.kill')), '1', 'SIGKILL through cgroup.kill');
  });

  test('update: a memory limit below the current usage is refused (v2 would OOM-kill to reach it)', () => {
    const driver = openCgroup('/berth-test/c1', { mountRoot: root });
    writeFileSync(join(root, 'berth-test/c1/memory.current'), `${100 * MiB}\n`);
    const err = refusal(() => driver.planUpdate({ memory: { limit: 50 * MiB } }));
    assert.equal(err.field, 'linux.resources.memory.limit');
    assert.match(err.message, /below the cgroup's current memory usage \(104857600 bytes in .*memory\.current\).*memory\.max/);
    assert.deepEqual(driver.planUpdate({ memory: { limit: 200 * MiB } }), [{ op: 'write', path: join(root, 'berth-test/c1/memory.max'), value: String(200 * MiB) }]);
  });

  test('update: a new period alone keeps the quota in force', () => {
    const driver = openCgroup('/berth-test/c1', { mountRoot: root });
    assert.deepEqual(driver.planUpdate({ cpu: { period: 50000 } }), [{ op: 'write', path: join(root, 'berth-test/c1/cpu.max'), value: '30000 50000' }]);
  });

  test('update of a cgroup that does not exist is refused', () => {
    assert.match(refusal(() => openCgroup('/berth-test/none', { mountRoot: root }).planUpdate({ pids: { limit: 3 } })).message, /does not exist/);
  });

  test('a controller the tree does not offer: refused naming the controller and the file, nothing created', () => {
    const small = fakeV2Root('cpu memory pids');
    try {
      const driver = openCgroup('/berth-test/c1', { mountRoot: small });
      const unified = refusal(() => driver.planCreate({ unified: { 'io.max': '8:0 rbps=1' } }));
      assert.equal(unified.field, 'linux.resources.unified["io.max"]');
      assert.match(unified.message, /cannot write io\.max: the io controller is not available \(not listed in .*\/cgroup\.controllers\)/);
      const huge = refusal(() => driver.planCreate({ hugepageLimits: [{ pageSize: '2MB', limit: MiB }] }));
      assert.equal(huge.field, 'linux.resources.hugepageLimits');
      assert.match(huge.message, new RegExp(`needs the hugetlb controller, which is not available \\(not listed in ${small}/cgroup\\.controllers\\)`));
      assert.deepEqual(treeOf(small), []);
      assert.equal(read(join(small, 'cgroup.subtree_control')), '');
    } finally {
      rmSync(small, { recursive: true, force: true });
    }
  });

  test('a parent that holds processes: the "no internal processes" rule, said clearly', () => {
    mkdirSync(join(root, 'busy'));
    populateV2(join(root, 'busy'));
    writeFileSync(join(root, 'busy/cgroup.procs'), '777\n');
    const err = refusal(() => openCgroup('/busy/c1', { mountRoot: root }).planCreate());
    assert.match(err.message, /busy holds processes \(777\).*"no internal processes" rule/);
    assert.ok(!existsSync(join(root, 'busy/c1')));
  });

  const badInput: [string, Resources, RegExp][] = [
    // A period of 0 is none given (runc reads it so; dockerd's update sends 0s): the quota then lacks one.
    ['linux.resources.cpu.quota', { cpu: { quota: 30000, period: 0 } }, /needs cpu\.period/],
    ['linux.resources.cpu.period', { cpu: { period: -5 } }, /must be positive/],
    ['linux.resources.cpu.period', { cpu: { period: 10 } }, /between 1000 and 1000000/],
    ['linux.resources.cpu.quota', { cpu: { quota: 30000 } }, /needs cpu\.period/],
    ['linux.resources.cpu.quota', { cpu: { quota: 500, period: 100000 } }, /at least 1000/],
    ['linux.resources.cpu.shares', { cpu: { shares: 1 } }, /between 2 and 262144/],
    ['linux.resources.cpu.cpus', { cpu: { cpus: 'all' } }, /a list like/],
    ['linux.resources.cpu.realtimeRuntime', { cpu: { realtimeRuntime: 1000, realtimePeriod: 10000 } }, /no realtime/],
    ['linux.resources.memory.limit', { memory: { limit: -2 } }, /must be positive/],
    ['linux.resources.memory.swap', { memory: { limit: 64 * MiB, swap: 32 * MiB } }, /at least memory\.limit/],
    ['linux.resources.memory.swap', { memory: { swap: 32 * MiB } }, /needs memory\.limit/],
    ['linux.resources.pids.limit', { pids: { limit: -7 } }, /must be positive/],
    ['linux.resources.blockIO.weight', { blockIO: { weight: 5 } }, /between 10 and 1000/],
    ['linux.resources.hugepageLimits[0].pageSize', { hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, /like 2MB/],
    ['linux.resources.hugepageLimits[0].pageSize', { hugepageLimits: [{ pageSize: '3MB', limit: 1 }] }, /not a huge page size of this host/],
    ['linux.resources.devices[0].type', { devices: [{ allow: true, type: 'x' }] }, /must be a/],
    ['linux.resources.devices[0].access', { devices: [{ allow: true, access: 'rwx' }] }, /r, w and m/],
    ['linux.resources.unified["../escape"]', { unified: { '../escape': '1' } }, /cgroup file name/],
    ['linux.resources.unified["cgroup.procs"]', { unified: { 'cgroup.procs': '1' } }, /runtime's to manage/],
    ['linux.resources.unified["misc.max"]', { unified: { 'misc.max': 'x 1' } }, /the misc controller is not available/],
    ['linux.resources.network', { network: { classID: 7 } }, /no net_cls/],
  ];
  for (const [field, r, problem] of badInput) {
    test(`bad input refused before anything is made: ${field} ${JSON.stringify(r)}`, () => {
      const fresh = fakeV2Root();
      try {
        const driver = openCgroup('/berth-test/bad', { mountRoot: fresh });
        const err = refusal(() => driver.create(r));
        assert.equal(err.field, field);
        assert.ok(err.message.startsWith(`${field}: `), err.message);
        assert.match(err.message, problem);
        assert.deepEqual(treeOf(fresh), []);
        assert.equal(read(join(fresh, 'cgroup.subtree_control')), '', 'no controller enabled either');
      } finally {
        rmSync(fresh, { recursive: true, force: true });
      }
    });
  }

  test('a failing step: the error names the file, value and errno, and the directories made are removed', () => {
    const fresh = fakeV2Root();
    try {
      const driver = openCgroup('/berth-test/c1', { mountRoot: fresh });
      // Applied straight, with no harness: the new parent is a plain directory without files.
      const err = refusal(() => driver.create({ pids: { limit: 5 } }));
      assert.equal(
        err.message,
        `cgroup: write +cpuset +cpu +io +memory +hugetlb +pids to ${fresh}/berth-test/cgroup.subtree_control: ENOENT (no such file or directory): ${fresh}/berth-test is not a cgroup (it has no cgroup.subtree_control)`,
      );
      assert.equal(err.code, 'ENOENT');
      assert.deepEqual(treeOf(fresh), [], 'berth-test, made by this call, is gone');
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// v1's plan on a fake layout. Why a fake when this host's v1 is real: the real one is driven for
// real below (and in cgroups-enforcement.test.ts), but it is one layout, and not the common one.
// This host mounts cpu and cpuacct apart, beside a cgroup2 tree (hybrid), and has no hugetlb
// hierarchy; most v1 distributions co-mount cpu,cpuacct in a legacy layout (no cgroup2). The fake
// is that layout, so the plan for two controllers in one hierarchy (one mkdir, both files) and for
// a legacy host is checked too, op by op at fixed paths; and the same checks run in the v2 guest,
// which has no v1 at all. Nothing is written to it but the files a plan reads.

describe('v1 driver plan on the common legacy layout this host lacks (cpu,cpuacct co-mounted, no cgroup2): a fake tree', () => {
  let base: string;
  let layout: CgroupLayout;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'berth-fake-cgroup1-'));
    const hierarchies = [['cpu', 'cpuacct'], ['cpuset'], ['memory'], ['devices'], ['freezer'], ['pids'], ['blkio'], ['name=systemd']];
    layout = { mode: 'legacy', v2: null, v1: hierarchies.map((controllers) => ({ mountpoint: join(base, controllers.join(',')), controllers })) };
    for (const h of layout.v1) mkdirSync(h.mountpoint);
    writeFileSync(join(base, 'cpuset/cpuset.cpus'), '0-3\n');
    writeFileSync(join(base, 'cpuset/cpuset.mems'), '0\n');
    writeFileSync(join(base, 'memory/memory.memsw.limit_in_bytes'), '9223372036854771712\n');
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('create: a directory in every hierarchy, cpus and mems on each new cpuset, then the resources in runc order', () => {
    const driver = openCgroup('/berth-test/c1', { layout });
    assert.equal(driver.version, 1);
    const at = (h: string, rest: string) => join(base, h, rest);
    const ops = driver.planCreate({
      cpu: { shares: 512, quota: 30000, period: 100000, cpus: '1' },
      memory: { limit: 64 * MiB, swap: 96 * MiB, reservation: 32 * MiB, swappiness: 10, disableOOMKiller: true },
      pids: { limit: 32 },
      blockIO: { weight: 500 },
      devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, access: 'm' }],
    });
    const mkdirs = (h: string) => [
      { op: 'mkdir', path: at(h, 'berth-test') },
      { op: 'mkdir', path: at(h, 'berth-test/c1') },
    ];
    assert.deepEqual(ops, [
      ...mkdirs('cpu,cpuacct'),
      { op: 'mkdir', path: at('cpuset', 'berth-test') },
      { op: 'write', path: at('cpuset', 'berth-test/cpuset.cpus'), value: '0-3' },
      { op: 'write', path: at('cpuset', 'berth-test/cpuset.mems'), value: '0' },
      { op: 'mkdir', path: at('cpuset', 'berth-test/c1') },
      { op: 'write', path: at('cpuset', 'berth-test/c1/cpuset.cpus'), value: '1' },
      { op: 'write', path: at('cpuset', 'berth-test/c1/cpuset.mems'), value: '0' },
      ...mkdirs('memory'),
      ...mkdirs('devices'),
      ...mkdirs('freezer'),
      ...mkdirs('pids'),
      ...mkdirs('blkio'),
      ...mkdirs('name=systemd'),
      { op: 'write', path: at('devices', 'berth-test/c1/devices.deny'), value: 'a' },
      { op: 'write', path: at('devices', 'berth-test/c1/devices.allow'), value: 'c 1:3 rwm' },
      // "m on every device" is not v1's "a" (which is rwm): its c and b halves.
      { op: 'write', path: at('devices', 'berth-test/c1/devices.allow'), value: 'c *:* m' },
      { op: 'write', path: at('devices', 'berth-test/c1/devices.allow'), value: 'b *:* m' },
      { op: 'write', path: at('memory', 'berth-test/c1/memory.limit_in_bytes'), value: String(64 * MiB) },
      { op: 'write', path: at('memory', 'berth-test/c1/memory.memsw.limit_in_bytes'), value: String(96 * MiB) },
      { op: 'write', path: at('memory', 'berth-test/c1/memory.soft_limit_in_bytes'), value: String(32 * MiB) },
      { op: 'write', path: at('memory', 'berth-test/c1/memory.swappiness'), value: '10' },
      { op: 'write', path: at('memory', 'berth-test/c1/memory.oom_control'), value: '1' },
      { op: 'write', path: at('cpu,cpuacct', 'berth-test/c1/cpu.shares'), value: '512' },
      { op: 'write', path: at('cpu,cpuacct', 'berth-test/c1/cpu.cfs_period_us'), value: '100000' },
      { op: 'write', path: at('cpu,cpuacct', 'berth-test/c1/cpu.cfs_quota_us'), value: '30000' },
      { op: 'write', path: at('pids', 'berth-test/c1/pids.max'), value: '32' },
      {
        op: 'write',
        path: at('blkio', 'berth-test/c1/blkio.bfq.weight'),
        value: '500',
        ifMissing: { path: at('blkio', 'berth-test/c1/blkio.weight'), value: '500' },
      },
    ]);
  });

  test('update: memory and memory+swap in the order the kernel accepts', () => {
    const driver = openCgroup('/berth-test/c1', { layout });
    for (const h of layout.v1) mkdirSync(join(h.mountpoint, 'berth-test/c1'), { recursive: true });
    const memory = (name: string) => join(base, 'memory/berth-test/c1', name);
    writeFileSync(memory('memory.limit_in_bytes'), `${64 * MiB}\n`);
    const order = (r: Resources) => driver.planUpdate(r).map((op) => (op.op === 'write' ? `${op.path.slice(op.path.lastIndexOf('/') + 1)}=${op.value}` : op.op));
    // Raising: memory+swap first (the limit may not pass it).
    assert.deepEqual(order({ memory: { limit: 256 * MiB, swap: 512 * MiB } }), [`memory.memsw.limit_in_bytes=${512 * MiB}`, `memory.limit_in_bytes=${256 * MiB}`]);
    // Lowering: the limit first.
    assert.deepEqual(order({ memory: { limit: 32 * MiB, swap: 48 * MiB } }), [`memory.limit_in_bytes=${32 * MiB}`, `memory.memsw.limit_in_bytes=${48 * MiB}`]);
    // Unlimited memory: unlimited memory+swap too.
    assert.deepEqual(order({ memory: { limit: -1 } }), ['memory.memsw.limit_in_bytes=-1', 'memory.limit_in_bytes=-1']);
    assert.deepEqual(order({ cpu: { cpus: '2-3' } }), ['cpuset.cpus=2-3']);
  });

  test('what v1 lacks is refused by field: unified, an unmounted controller', () => {
    const driver = openCgroup('/berth-test/c9', { layout });
    const unified = refusal(() => driver.planCreate({ unified: { 'memory.high': '1G' } }));
    assert.equal(unified.field, 'linux.resources.unified');
    assert.match(unified.message, /cgroup v2/);
    const huge = refusal(() => driver.planCreate({ hugepageLimits: [{ pageSize: '2MB', limit: MiB }] }));
    assert.equal(huge.field, 'linux.resources.hugepageLimits');
    assert.match(huge.message, /no cgroup v1 hugetlb hierarchy is mounted/);
    assert.ok(!existsSync(join(base, 'pids/berth-test/c9')));
  });
});

test('explain: each op as the shell line a person would type', () => {
  const lines = renderCgroupOps([
    { op: 'mkdir', path: '/sys/fs/cgroup/berth/x' },
    { op: 'write', path: '/sys/fs/cgroup/berth/x/cpu.max', value: '30000 100000' },
    { op: 'write', path: '/sys/fs/cgroup/berth/x/memory.swap.max', value: 'max', ifMissing: 'skip' },
    { op: 'write', path: '/sys/fs/cgroup/berth/x/io.bfq.weight', value: '500', ifMissing: { path: '/sys/fs/cgroup/berth/x/io.weight', value: 'default 4950' } },
    { op: 'attachDeviceFilter', path: '/sys/fs/cgroup/berth/x', rules: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, { allow: true, type: 'c', major: 136, access: 'rwm' }] },
    { op: 'attachDeviceFilter', path: '/sys/fs/cgroup/berth/y', rules: [] },
  ]);
  assert.deepEqual(lines, [
    'mkdir -p /sys/fs/cgroup/berth/x',
    'echo "30000 100000" > /sys/fs/cgroup/berth/x/cpu.max',
    '[ -e /sys/fs/cgroup/berth/x/memory.swap.max ] && echo "max" > /sys/fs/cgroup/berth/x/memory.swap.max',
    'if [ -e /sys/fs/cgroup/berth/x/io.bfq.weight ]; then echo "500" > /sys/fs/cgroup/berth/x/io.bfq.weight; else echo "default 4950" > /sys/fs/cgroup/berth/x/io.weight; fi',
    '# attach an eBPF device filter to /sys/fs/cgroup/berth/x: deny a *:* rwm, allow c 1:3 rwm, allow c 136:* rwm (the last matching rule wins)',
    '# attach an eBPF device filter to /sys/fs/cgroup/berth/y: deny every device (no rules) (the last matching rule wins)',
  ]);
});

// ---------------------------------------------------------------------------------------------
// The host's own driver, for real: v1 on this hybrid host, v2 in a pure v2 guest (same tests).

const hostLayout = detectCgroupLayout();
const notRoot = process.getuid?.() !== 0 ? 'needs root' : false;
const PARENT = `/berth-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

/** The file `name` of `driver`'s cgroup, in whichever of its directories has it. */
function fileOf(driver: CgroupDriver, name: string): string {
  const file = driver.dirs().map((d) => join(d, name)).find((f) => existsSync(f));
  assert.ok(file, `no ${name} in ${driver.dirs().join(', ')}`);
  return file;
}

/** A process and the promise of its end. */
function start(command: string, args: string[], stdin: 'pipe' | 'ignore' = 'ignore'): { child: ChildProcess; exited: Promise<NodeJS.Signals | number | null> } {
  const child = spawn(command, args, { stdio: [stdin, 'pipe', 'ignore'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited };
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.slice(0, text.indexOf('\n')));
    });
  });
}

describe(`the host's cgroups, for real (${hostLayout.mode}: the v${hostLayout.mode === 'unified' ? 2 : 1} driver, under ${PARENT})`, { skip: notRoot }, () => {
  const cleanup: CgroupDriver[] = [];
  const cgroup = (path: string) => {
    const driver = openCgroup(path);
    cleanup.push(driver);
    return driver;
  };
  after(async () => {
    for (const driver of cleanup.reverse()) await driver.destroy();
    // The test parents, made by the drivers' plans, then whatever is left under them.
    await openCgroup(PARENT).destroy();
    await openCgroup(`${PARENT}-bad`).destroy();
  });

  test('limits are written, a process placed, counted, frozen, thawed, updated, killed, and nothing is left', async () => {
    const driver = cgroup(`${PARENT}/limits`);
    driver.create({ cpu: { quota: 30000, period: 100000, shares: 512 }, memory: { limit: 64 * MiB }, pids: { limit: 32 } });
    const expected: Record<string, string> =
      driver.version === 1
        ? { 'cpu.cfs_quota_us': '30000', 'cpu.cfs_period_us': '100000', 'cpu.shares': '512', 'memory.limit_in_bytes': String(64 * MiB), 'pids.max': '32' }
        : { 'cpu.max': '30000 100000', 'cpu.weight': '20', 'memory.max': String(64 * MiB), 'pids.max': '32' };
    for (const [name, value] of Object.entries(expected)) assert.equal(read(fileOf(driver, name)), value, name);

    const { child, exited } = start('sh', ['-c', 'while :; do :; done']);
    const pid = child.pid as number;
    driver.addProcess(pid);
    assert.deepEqual(driver.pids(), [pid]);
    // In its cgroup in every hierarchy: /proc/PID/cgroup ends each line with the path.
    const lines = read(`/proc/${pid}/cgroup`).split('\n');
    assert.ok(lines.every((line) => line.endsWith(`:${driver.path}`)), lines.join('\n'));
    assert.match(refusal(() => cgroup(driver.path).create()).message, /already exists and holds processes/);

    await delay(300);
    const stats = driver.stats();
    assert.ok(stats.cpu.usageUsec > 0, JSON.stringify(stats));
    assert.equal(stats.pids.current, 1);
    assert.equal(stats.pids.limit, 32);
    assert.equal(stats.memory.limit, 64 * MiB);
    assert.equal(stats.memory.oomKills, 0);
    assert.equal(driver.oomKilled(), false);

    await driver.freeze();
    assert.equal(driver.isFrozen(), true);
    const frozenAt = driver.stats().cpu.usageUsec;
    await delay(300);
    assert.ok(driver.stats().cpu.usageUsec - frozenAt < 2000, 'a frozen busy loop does not run');
    await driver.thaw();
    assert.equal(driver.isFrozen(), false);
    await delay(300);
    assert.ok(driver.stats().cpu.usageUsec - frozenAt > 10_000, 'thawed, it runs again');

    driver.update({ cpu: { quota: 50000, period: 100000 }, pids: { limit: 64 } });
    assert.equal(read(fileOf(driver, driver.version === 1 ? 'cpu.cfs_quota_us' : 'cpu.max')), driver.version === 1 ? '50000' : '50000 100000');
    assert.equal(read(fileOf(driver, 'pids.max')), '64');

    driver.kill();
    assert.equal(await exited, 'SIGKILL');
    await driver.destroy();
    assert.deepEqual(driver.dirs().filter((d) => existsSync(d)), [], 'no directory left in any hierarchy');
    await driver.destroy(); // idempotent
  });

  test('destroy kills what is left, frozen or not, and removes cgroups made inside', async () => {
    const driver = cgroup(`${PARENT}/destroy`);
    driver.create({ pids: { limit: 16 } });
    const { child, exited } = start('sleep', ['1000']);
    driver.addProcess(child.pid as number);
    for (const dir of driver.dirs()) mkdirSync(join(dir, 'inner'));
    await driver.freeze();
    await driver.destroy();
    assert.equal(await exited, 'SIGKILL');
    assert.deepEqual(driver.dirs().filter((d) => existsSync(d)), []);
  });

  test('devices: deny everything but /dev/null (v1 devices.deny/allow; v2 the eBPF filter)', async () => {
    const driver = cgroup(`${PARENT}/devices`);
    driver.create({ devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }] });
    if (driver.version === 1) assert.equal(read(fileOf(driver, 'devices.list')), 'c 1:3 rwm');
    const { child, exited } = start('sh', ['-c', 'read go; echo x > /dev/null && echo -n null-ok; head -c1 /dev/zero >/dev/null 2>&1 && echo " zero-read" || echo " zero-denied"'], 'pipe');
    driver.addProcess(child.pid as number);
    const out = firstLine(child);
    child.stdin?.end('go\n');
    assert.equal(await out, 'null-ok zero-denied');
    await exited;
    await driver.destroy();
  });

  test('a memory limit below the current usage is refused, naming the file', async () => {
    const driver = cgroup(`${PARENT}/memory`);
    driver.create({ memory: { limit: 512 * MiB } });
    // Allocate only once inside: memory charged before the move stays with the old cgroup on v1.
    const { child, exited } = start(process.execPath, ['-e', 'process.stdin.once("data", () => { globalThis.b = Buffer.alloc(96 << 20, 1); console.log("allocated"); })'], 'pipe');
    driver.addProcess(child.pid as number);
    const allocated = firstLine(child);
    child.stdin?.write('go\n');
    assert.equal(await allocated, 'allocated');
    const err = refusal(() => driver.update({ memory: { limit: 16 * MiB } }));
    assert.match(err.message, /current memory usage/);
    if (driver.version === 1) {
      assert.equal(err.code, 'EBUSY');
      assert.match(err.message, new RegExp(`^cgroup: write ${16 * MiB} to /.*/memory\\.limit_in_bytes: EBUSY \\(`));
    } else {
      assert.equal(err.field, 'linux.resources.memory.limit');
      assert.match(err.message, /memory\.max/);
    }
    assert.equal(driver.oomKilled(), false, 'nothing was killed to get there');
    assert.equal(read(fileOf(driver, driver.version === 1 ? 'memory.limit_in_bytes' : 'memory.max')), String(512 * MiB));
    await driver.destroy();
    await exited;
  });

  test('a value the kernel refuses: the error names file, value and errno; the directories made are gone', () => {
    const driver = openCgroup(`${PARENT}/kernel-says-no`);
    const cpusValue = String(cpus().length + 8);
    const err = refusal(() => driver.create({ cpu: { cpus: cpusValue } }));
    assert.match(err.message, new RegExp(`^cgroup: write ${cpusValue} to /\\S+/kernel-says-no/cpuset\\.cpus: E[A-Z]+ \\(`));
    assert.deepEqual(driver.dirs().filter((d) => existsSync(d)), []);
  });

  test('bad input leaves nothing in any hierarchy', () => {
    const driver = openCgroup(`${PARENT}-bad/c1`);
    const bad: Resources[] = [
      { cpu: { quota: 30000, period: 0 } },
      { cpu: { period: -100000 } },
      { cpu: { quota: 30000 } },
      { memory: { limit: 64 * MiB, swap: MiB } },
      driver.version === 1 ? { unified: { 'memory.high': '1G' } } : { unified: { 'nosuch.max': '1' } },
    ];
    for (const r of bad) assert.ok(refusal(() => driver.create(r)).field?.startsWith('linux.resources.'));
    assert.throws(() => parseCgroupsPath(`${PARENT}-bad/../escape`, 'x'), /linux\.cgroupsPath/);
    assert.deepEqual(openCgroup(`${PARENT}-bad`).dirs().filter((d) => existsSync(d)), [], 'not even the parent');
  });
});
