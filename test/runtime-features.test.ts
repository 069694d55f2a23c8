// The rest of config.json, each seen from inside a real container: user and groups, umask,
// rlimits, sysctls, oom_score_adj, domainname, linux.devices, a user namespace with id maps,
// namespaces joined by path; and the runtime's --log in runc's JSON form.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Spec } from '../src/oci/runtime-spec.js';
import { bindMount, makeBundle } from './helpers/bundle.js';
import { lastLine, runtime, runtimeOk, show, tempRoot, unique, waitFor } from './helpers/run.js';

/** Runs `script` in a default-spec container changed by `edit`; returns its stdout. */
async function runIn(t: import('node:test').TestContext, script: string, edit: (s: Spec) => void = () => {}): Promise<string> {
  const root = tempRoot(t);
  const bundle = await makeBundle({ args: ['sh', '-c', script], edit });
  t.after(bundle.cleanup);
  const r = runtime(root, 'run', '--bundle', bundle.dir, unique('feat'));
  assert.equal(r.status, 0, show(r));
  return r.stdout;
}

test('process.user: uid, gid, additional groups and umask are what the process runs with', async (t) => {
  const out = await runIn(t, 'id -u; id -g; id -G; umask', (s) => {
    s.process.user = { uid: 1000, gid: 1001, additionalGids: [20, 30], umask: 0o027 };
  });
  assert.deepEqual(out.trim().split('\n'), ['1000', '1001', '1001 20 30', '0027']);
});

test('process.rlimits, linux.sysctl, oomScoreAdj and domainname are set inside', async (t) => {
  const out = await runIn(t, 'ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; cat /proc/sys/kernel/shmmni; cat /proc/self/oom_score_adj; cat /proc/sys/kernel/domainname', (s) => {
    s.process.rlimits = [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 768 }];
    s.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmni': '1000' };
    s.process.oomScoreAdj = 200;
    s.domainname = 'example.test';
  });
  assert.deepEqual(out.trim().split('\n'), ['512', '768', '1', '1000', '200', 'example.test']);
  // The host's own setting is untouched: the container had its own network namespace.
  assert.equal(readFileSync('/proc/sys/kernel/shmmni', 'utf8').trim() === '1000', false);
});

test('linux.sysctl: a setting that is not namespaced is refused, naming it', async (t) => {
  const root = tempRoot(t);
  const bundle = await makeBundle({ args: ['true'], edit: (s) => void (s.linux!.sysctl = { 'vm.swappiness': '10' }) });
  t.after(bundle.cleanup);
  const r = runtime(root, 'run', '--bundle', bundle.dir, unique('sysctl'));
  assert.notEqual(r.status, 0);
  assert.match(lastLine(r.stderr), /linux\.sysctl\.vm\.swappiness: not namespaced/);
});

test('capabilities: only the spec\'s sets, inheritable and ambient empty, the bounding set pruned', async (t) => {
  const caps = async (user: { uid: number; gid: number }, ambient: string[]) => {
    const out = await runIn(t, 'grep ^Cap /proc/self/status', (s) => {
      s.process.user = user;
      s.process.capabilities = { bounding: ['CAP_KILL', 'CAP_CHOWN'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_CHOWN'], inheritable: ambient, ambient };
    });
    return Object.fromEntries(out.trim().split('\n').map((l) => l.split(/:\s+/).map((v, i) => (i ? BigInt(`0x${v}`) : v))));
  };
  const KILL = 1n << 5n;
  const CHOWN = 1n << 0n;
  // As root, execve makes the effective set the permitted one (the kernel's rule for uid 0).
  const root = await caps({ uid: 0, gid: 0 }, []);
  assert.deepEqual(root, { CapInh: 0n, CapPrm: KILL | CHOWN, CapEff: KILL | CHOWN, CapBnd: KILL | CHOWN, CapAmb: 0n });
  // Another user keeps, through execve, only its ambient capabilities.
  const user = await caps({ uid: 1000, gid: 1000 }, ['CAP_KILL']);
  assert.deepEqual(user, { CapInh: KILL, CapPrm: KILL, CapEff: KILL, CapBnd: KILL | CHOWN, CapAmb: KILL });
});

test('noNewPrivileges is set in the process', async (t) => {
  const out = await runIn(t, 'grep ^NoNewPrivs /proc/self/status');
  assert.match(out, /NoNewPrivs:\s+1/);
});

test('linux.devices: the node is made with its type, numbers and mode', async (t) => {
  const out = await runIn(t, 'ls -l /dev/fuse /dev/loop-control', (s) => {
    s.linux!.devices = [
      { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o620, uid: 0, gid: 0 },
      { type: 'c', path: '/dev/loop-control', major: 10, minor: 237, fileMode: 0o600 },
    ];
  });
  assert.match(out, /^crw--w----\s+1 root\s+root\s+10,\s+229 .* \/dev\/fuse$/m);
  assert.match(out, /^crw-------\s+1 root\s+root\s+10,\s+237 .* \/dev\/loop-control$/m);
});

test('a user namespace: root inside is an unprivileged host uid, and the maps are the spec\'s', async (t) => {
  // The bundle sits in a directory only the host's root may enter (mkdtemp's 0700): the rootfs is
  // opened before the process becomes the namespace's root, so that still works.
  const out = await runIn(t, 'id -u; cat /proc/self/uid_map; cat /proc/self/gid_map; ls -ln /bin/busybox', (s) => {
    s.linux!.namespaces!.push({ type: 'user' });
    s.linux!.uidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
    s.linux!.gidMappings = [{ containerID: 0, hostID: 200000, size: 65536 }];
  });
  const lines = out.trim().split('\n');
  assert.equal(lines[0], '0');
  assert.deepEqual(lines[1].trim().split(/\s+/), ['0', '200000', '65536']);
  assert.deepEqual(lines[2].trim().split(/\s+/), ['0', '200000', '65536']);
  // Files owned by the host's root are unmapped inside: they show as the overflow id.
  assert.match(lines[3], /^\S+\s+\d+\s+65534\s+65534 /);
});

test('namespaces joined by path: a second container shares the first one\'s network and uts namespaces', async (t) => {
  const root = tempRoot(t);
  const io = mkdtempSync('/tmp/berth-test-join-');
  t.after(() => rmSync(io, { recursive: true, force: true }));
  const first = await makeBundle({
    args: ['sh', '-c', 'ip link set lo up 2>/dev/null; hostname > /io/first; while [ ! -e /io/stop ]; do sleep 0.05; done'],
    edit: (s) => {
      s.hostname = 'sharedhost';
      bindMount(s, io, '/io');
    },
  });
  t.after(first.cleanup);
  const firstId = unique('join-a');
  const created = runtime(root, 'run', '--detach', '--bundle', first.dir, firstId);
  assert.equal(created.status, 0, show(created));
  const pid = JSON.parse(runtimeOk(root, 'state', firstId)).pid as number;
  const second = await makeBundle({
    args: ['sh', '-c', 'hostname; readlink /proc/self/ns/net'],
    edit: (s) => {
      delete s.hostname;
      s.linux!.namespaces = s.linux!.namespaces!.map((ns) =>
        ns.type === 'network' || ns.type === 'uts' ? { type: ns.type, path: `/proc/${pid}/ns/${ns.type === 'network' ? 'net' : 'uts'}` } : ns,
      );
    },
  });
  t.after(second.cleanup);
  const r = runtime(root, 'run', '--bundle', second.dir, unique('join-b'));
  assert.equal(r.status, 0, show(r));
  const [hostname, netns] = r.stdout.trim().split('\n');
  assert.equal(hostname, 'sharedhost');
  assert.equal(netns, readlinkSync(`/proc/${pid}/ns/net`));
  runtimeOk(root, 'kill', firstId, 'KILL');
  await waitFor('the first container to stop', () => JSON.parse(runtimeOk(root, 'state', firstId)).status === 'stopped');
});

test('--log --log-format json: an error is written as runc writes it, one JSON line', async (t) => {
  const root = tempRoot(t);
  const dir = mkdtempSync('/tmp/berth-test-log-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'log.json');
  const r = runtime(root, '--log', log, '--log-format', 'json', 'state', 'no-such-container');
  assert.notEqual(r.status, 0);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]);
  assert.equal(entry.level, 'error');
  assert.equal(entry.msg, 'container no-such-container does not exist');
  assert.ok(!Number.isNaN(Date.parse(entry.time)));
});
