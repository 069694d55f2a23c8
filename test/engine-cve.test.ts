// berth's engine against the runtime CVE record, through its CLI as a person uses it: leaked fds
// (CVE-2024-21626) in run, run -d under conmon and exec; the release_agent escape (CVE-2022-0492)
// and the limits it would lift; a fork bomb and a memory hog that stay in their cgroup while the
// host goes on working. Real containers from a busybox image with the probe in it.
import { after, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCgroup } from '../src/cgroups/open.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { probeImage } from './helpers/probe-image.js';
import { unique, waitFor } from './helpers/run.js';
import { BERTH, berthRoot, ok, type Berth, type Result } from './helpers/berth-cli.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { hostReleaseAgents, releaseAgentEscapeScript } from './helpers/cve.js';

const skip = busyboxAvailable() ? false : BUSYBOX_MISSING_REASON;
// Containers are on the default bridge: ip_forward and /run/netns as they were, after.
after(saveHostNetwork());

function scratch(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(`/tmp/berth-cve-${prefix}-`);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The id of the one container of a test's own root. */
function onlyContainer(berth: Berth): string {
  const ids = ok(berth('ps', '-aq', '--no-trunc')).trim().split('\n').filter(Boolean);
  assert.equal(ids.length, 1, ids.join(' '));
  return ids[0];
}

/** The host keeps working: it forks a process and allocates and touches 256 MiB (no timing asserted). */
function assertHostWorks(what: string): void {
  const r = spawnSync('/bin/true');
  assert.equal(r.status, 0, `${what}: the host could not fork: ${r.error?.message}`);
  const block = Buffer.alloc(256 * 1024 * 1024, 1);
  assert.equal(block[block.length - 1], 1, `${what}: the host could not allocate`);
}

describe('CVE-2024-21626: no fd of berth reaches a container process', { skip }, () => {
  /** `berth ARGS` with host directories open on its fds 3, 4, 5, as a careless caller would leave them. */
  function berthWithLeakedFds(env: NodeJS.ProcessEnv, leaked: number[], ...args: string[]): Result {
    const r = spawnSync(process.execPath, [BERTH, ...args], { env, stdio: ['ignore', 'pipe', 'pipe', ...leaked], encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  /** A cwd the probe printed must be the container's, never "(unreachable)/..." or a host path. */
  function assertCwdInside(r: Result, what: string): void {
    if (r.status === 0) assert.match(r.stdout.trim(), /^\/(proc|dev|sys)?(\/|$)/, `${what}: ${r.stdout}${r.stderr}`);
    else {
      assert.match(r.stderr.trim().split('\n').at(-1) ?? '', /chdir \/proc\/self\/fd\/\d+: E[A-Z]+ /, `${what}: ${r.stderr}`);
      assert.equal(r.stdout, '', `${what}: the process ran after all`);
    }
  }

  test('CVE-2024-21626: berth run, run -d (conmon) and exec with host directories open on berth’s fds 3-5: only 0-2 inside, and -w /proc/self/fd/N stays inside', async (t) => {
    const { berth, env } = berthRoot(t, 'cve-fds');
    probeImage(t, berth, 'cve:fds');
    const leaked = ['/', '/etc', scratch(t, 'leaked')].map((d) => openSync(d, 'r'));
    t.after(() => leaked.forEach((fd) => closeSync(fd)));

    assert.equal(ok(berthWithLeakedFds(env, leaked, 'run', '--rm', 'cve:fds', 'probe', 'fds')), '0\n1\n2\n');
    const name = unique('fds');
    ok(berthWithLeakedFds(env, leaked, 'run', '-d', '--name', name, 'cve:fds', 'sh', '-c', 'probe fds; exec sleep 1000'));
    await waitFor('the detached container to list its fds', () => ok(berth('logs', name)).endsWith('2\n'), 20_000, 50);
    assert.equal(ok(berth('logs', name)), '0\n1\n2\n');
    assert.equal(ok(berthWithLeakedFds(env, leaked, 'exec', name, 'probe', 'fds')), '0\n1\n2\n');
    for (const fd of [3, 4, 5]) {
      assertCwdInside(berthWithLeakedFds(env, leaked, 'run', '--rm', '-w', `/proc/self/fd/${fd}`, 'cve:fds', 'probe', 'cwd'), `run -w /proc/self/fd/${fd}`);
      assertCwdInside(berthWithLeakedFds(env, leaked, 'exec', '-w', `/proc/self/fd/${fd}`, name, 'probe', 'cwd'), `exec -w /proc/self/fd/${fd}`);
    }
  });
});

describe('CVE-2022-0492: a container of docker’s default capabilities cannot reach release_agent or lift its own limits', { skip }, () => {
  test('CVE-2022-0492: the release_agent escape, as is and after unshare -UrmC, writes no release_agent and runs nothing on the host', async (t) => {
    const { berth } = berthRoot(t, 'cve-0492');
    const marks = scratch(t, 'payload');
    const payload = join(marks, 'payload.sh');
    writeFileSync(payload, `#!/bin/sh\ntouch ${marks}/ran\n`, { mode: 0o755 });
    probeImage(t, berth, 'cve:0492', { 'cve-0492.sh': releaseAgentEscapeScript(payload) });
    const before = hostReleaseAgents();
    const out = ok(berth('run', '--rm', 'cve:0492', 'sh', '-c', 'sh /cve-0492.sh direct; probe userns-root sh /cve-0492.sh unshared; echo end'));
    const lines = out.trim().split('\n');
    t.diagnostic(`CVE-2022-0492 (engine): ${lines.join('; ')}`);
    assert.equal(lines.at(-1), 'end', out);
    // Without CAP_SYS_ADMIN nothing mounts; a cgroup made and joined after unshare (docker's
    // capabilities let it map root) is below its own, under its limits. No release_agent, ever.
    assert.deepEqual(lines.filter((l) => l.startsWith('direct ') || / WROTE .*release_agent/.test(l)), [], out);
    assert.deepEqual(hostReleaseAgents(), before);
    assert.ok(!existsSync(join(marks, 'ran')), 'the payload ran on the host');
  });

  // On hosts with cgroup v1 controllers (this hybrid one), a container that can make a user
  // namespace (docker's capabilities hold CAP_SETFCAP, which maps uid 0 into it) mounts a v1
  // hierarchy whose root is its own cgroup, owned by that root: its limit files are writable.
  // containers-common's profile allows unshare(CLONE_NEWUSER); berth's default refuses it without
  // CAP_SYS_ADMIN, as Docker's does (src/engine/seccomp-profile.ts, withBerthOverlay).
  test('CVE-2022-0492: unshare -UrmC is refused by the default profile, so no v1 hierarchy mounted on its own cgroup lifts the pids and memory limits', async (t) => {
    const { berth } = berthRoot(t, 'cve-lift');
    const lift = [
      'for c in pids memory; do mount -t cgroup -o $c cgroup /mnt 2>/dev/null || mount -t cgroup2 cgroup2 /mnt 2>/dev/null || continue',
      '  for f in pids.max memory.max memory.limit_in_bytes; do [ -e /mnt/$f ] || continue; { echo max > /mnt/$f || echo -1 > /mnt/$f; } 2>/dev/null && echo "LIFTED $f"; done',
      '  umount /mnt; done; echo end',
    ].join('\n');
    probeImage(t, berth, 'cve:lift', { 'lift.sh': lift });
    const out = ok(berth('run', '--rm', '--pids-limit', '50', '-m', '64m', 'cve:lift', 'sh', '-c', 'probe userns-root sh /lift.sh; echo end'));
    t.diagnostic(`CVE-2022-0492 limits (engine): ${out.trim().split('\n').join('; ')}`);
    assert.deepEqual(out.trim().split('\n').filter((l) => l.startsWith('LIFTED')), [], out);
    assert.match(out, /^ERROR unshare EPERM$/m, 'the user namespace was made');
  });
});

describe('resource limits hold and the host keeps working', { skip }, () => {
  test('a fork bomb under --pids-limit stays at its limit; the host forks and allocates while it runs; rm -f ends it', async (t) => {
    const { berth } = berthRoot(t, 'cve-bomb');
    probeImage(t, berth, 'cve:bomb');
    const name = unique('bomb');
    ok(berth('run', '-d', '--name', name, '--pids-limit', '40', 'cve:bomb', 'sh', '-c', 'bomb() { bomb | bomb & }; bomb; exec sleep 1000'));
    const cgroup = openCgroup(`/berth/${onlyContainer(berth)}`);
    await waitFor('the bomb to reach its limit', () => cgroup.stats().pids.current >= 40, 30_000, 50);
    for (let k = 0; k < 5; k++) {
      assertHostWorks('with the bomb at its limit');
      assert.ok(cgroup.stats().pids.current <= 40, `the bomb passed its limit: ${cgroup.stats().pids.current}`);
    }
    ok(berth('rm', '-f', name));
    assert.equal(ok(berth('ps', '-aq')), '');
  });

  test('a memory hog under -m is OOM-killed inside its cgroup, again and again; the host forks and allocates while it runs', async (t) => {
    const { berth, env } = berthRoot(t, 'cve-hog');
    probeImage(t, berth, 'cve:hog');
    const name = unique('hog');
    // tail keeps its one endless line in memory; each one the OOM killer ends, the loop starts again.
    // Started from a directory of its own, which the monitor must leave as it was (conmon writes an
    // "oom" file in its own cwd at each OOM kill).
    const cwd = scratch(t, 'cwd');
    const started = spawnSync(process.execPath, [BERTH, 'run', '-d', '--name', name, '-m', '48m', 'cve:hog', 'sh', '-c', 'while true; do tail /dev/zero; done'], { env, cwd, encoding: 'utf8', timeout: 60_000 });
    ok({ status: started.status, stdout: started.stdout, stderr: started.stderr });
    const cgroup = openCgroup(`/berth/${onlyContainer(berth)}`);
    await waitFor('the hog to be OOM-killed twice', () => cgroup.stats().memory.oomKills >= 2, 60_000, 50);
    for (let k = 0; k < 5; k++) {
      assertHostWorks('with the hog at its limit');
      assert.ok(cgroup.stats().memory.usage <= 48 * 1024 * 1024, `the hog passed its limit: ${cgroup.stats().memory.usage}`);
    }
    assert.equal(ok(berth('inspect', '--format', '{{.State.Running}}', name)).trim(), 'true', 'the container itself was killed');
    ok(berth('rm', '-f', name));
    assert.deepEqual(readdirSync(cwd), [], 'a file was left in the cwd of berth run');
  });
});
