// berth's security defaults and flags, through its CLI: the default seccomp profile
// (containers-common's with berth's overlay), as a container sees it from inside with the probe
// (test/probe/probe.c, `probe syscall NR ARG...`). Few containers, each checking several things.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { arch } from 'node:os';
import { join } from 'node:path';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { probeImage } from './helpers/probe-image.js';
import { berthRoot, ok, type Berth } from './helpers/berth-cli.js';
import { waitFor } from './helpers/run.js';
import { DOCKER_CAPABILITIES } from '../src/engine/container-spec.js';
import { defaultSeccomp } from '../src/engine/seccomp-profile.js';
import { allCapabilities } from '../src/engine/security.js';
import { hostDevices } from '../src/engine/host-options.js';
import { DEFAULT_DEVICES } from '../src/runtime/devices.js';
import { capabilityMask } from '../src/kernel/capabilities.js';

const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : arch() !== 'x64' ? 'the probe calls syscalls by their x86_64 numbers' : false;

/** x86_64 syscall numbers and arguments the checks call; each line prints `NAME RET n` or `NAME ERRNO n`. */
const CALLS: Record<string, string> = {
  keyctl: '250 0 0',
  add_key: '248 0 0 0 0 0',
  request_key: '249 0 0 0 0',
  'unshare(CLONE_NEWUSER)': '272 0x10000000',
  'clone(CLONE_NEWUSER)': '56 0x10000011 0 0 0 0',
  clone3: '435 0 0',
  kexec_load: '246 0 0 0 0',
  open_by_handle_at: '304 0 0 0',
  init_module: '175 0 0 0',
  'unshare(0)': '272 0',
};

/** A shell script that makes every call of `CALLS` and prints `NAME RESULT` for each. */
function callScript(): string {
  return Object.entries(CALLS).map(([name, args]) => `echo "${name} $(probe syscall ${args})"`).join('\n');
}

/** `NAME RESULT` lines as a map. */
function results(out: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const name = Object.keys(CALLS).find((n) => line.startsWith(`${n} `));
    if (name) map.set(name, line.slice(name.length + 1));
  }
  return map;
}

const EPERM = 'ERRNO 1';
const ENOSYS = 'ERRNO 38';

describe('the default seccomp profile', { skip }, () => {
  test('berth run: Seccomp 2; keyctl, add_key, request_key, user namespaces, kexec_load, open_by_handle_at, init_module refused, clone3 ENOSYS; ordinary work runs', async (t) => {
    const { berth } = berthRoot(t, 'sec-default');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    const ordinary = 'mkdir /tmp/d && touch /tmp/d/f && chmod 600 /tmp/d/f && ln -s f /tmp/d/l && cat /tmp/d/l && echo hi | sort | wc -l >/dev/null && sleep 0 && echo WORKS';
    const out = ok(berth('run', '--rm', '--network', 'none', 'sec:probe', 'sh', '-c', `grep -E '^Seccomp:' /proc/self/status; sh /calls.sh; ${ordinary}`));
    t.diagnostic(out.trim().split('\n').join('; '));
    assert.match(out, /^Seccomp:\s+2$/m, out);
    const got = results(out);
    for (const name of ['keyctl', 'add_key', 'request_key', 'unshare(CLONE_NEWUSER)', 'clone(CLONE_NEWUSER)', 'kexec_load', 'open_by_handle_at', 'init_module']) {
      assert.equal(got.get(name), EPERM, `${name}: ${out}`);
    }
    assert.equal(got.get('clone3'), ENOSYS, out);
    assert.equal(got.get('unshare(0)'), 'RET 0', out);
    assert.match(out, /^WORKS$/m, out);
  });

  test('a missing profile file is refused in one line naming it and its package, never run unconfined', () => {
    assert.throws(() => defaultSeccomp(DOCKER_CAPABILITIES, '/nonexistent/seccomp.json'), (err: Error) => {
      assert.match(err.message, /^seccomp profile \/nonexistent\/seccomp\.json not found .*golang-github-containers-common/);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
  });
});

/** A /proc/self/status field of the output. */
function status(out: string, field: string): string {
  return out.match(new RegExp(`^${field}:\\s*(\\S+)$`, 'm'))?.[1] ?? `(no ${field} in: ${out})`;
}

/** A capability mask as /proc/self/status prints it. */
function capHex(names: readonly string[]): string {
  return capabilityMask(names).toString(16).padStart(16, '0');
}

const STATUS = "grep -E '^(Seccomp|NoNewPrivs|CapBnd|CapEff):' /proc/self/status";

function profileFile(t: TestContext, profile: unknown): string {
  const dir = mkdtempSync('/tmp/berth-sec-profile-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'profile.json');
  writeFileSync(file, JSON.stringify(profile));
  return file;
}

/** A refusal: one line on stderr matching `message`, exit 125, no container left. */
function assertRefused(berth: Berth, args: string[], message: RegExp): void {
  const r = berth('create', '--network', 'none', ...args, 'sec:probe', 'true');
  assert.notEqual(r.status, 0, `accepted: ${args.join(' ')}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, message);
  assert.equal(ok(berth('ps', '-aq')), '', `${args.join(' ')} left a container`);
}

describe('security flags', { skip }, () => {
  test('--security-opt seccomp=unconfined and no-new-privileges:true, --cap-drop ALL --cap-add net_raw: no filter, NoNewPrivs 1, only CAP_NET_RAW', async (t) => {
    const { berth } = berthRoot(t, 'sec-unconfined');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    const out = ok(berth('run', '--rm', '--network', 'none', '--security-opt', 'seccomp=unconfined', '--security-opt', 'no-new-privileges:true', '--cap-drop', 'ALL', '--cap-add', 'net_raw', 'sec:probe', 'sh', '-c', `${STATUS}; sh /calls.sh`));
    assert.equal(status(out, 'Seccomp'), '0', out);
    assert.equal(status(out, 'NoNewPrivs'), '1', out);
    assert.equal(status(out, 'CapBnd'), capHex(['CAP_NET_RAW']), out);
    assert.notEqual(results(out).get('keyctl'), EPERM, out);
  });

  test('--security-opt seccomp=PATH: its rules, includes/excludes judged by --cap-add/--cap-drop; no-new-privileges=false; the default profile follows --cap-add SYS_ADMIN', async (t) => {
    const { berth } = berthRoot(t, 'sec-profile');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    const file = profileFile(t, {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['sync'], action: 'SCMP_ACT_ERRNO', errnoRet: 22, includes: { caps: ['CAP_SYS_PTRACE'] } },
        { name: 'getppid', action: 'SCMP_ACT_ERRNO', errnoRet: 5, excludes: { caps: ['CAP_CHOWN'] } },
        { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 7, includes: { caps: ['CAP_CHOWN'] } },
      ],
    });
    const out = ok(berth('run', '--rm', '--network', 'none', '--security-opt', `seccomp=${file}`, '--security-opt', 'no-new-privileges=false', '--cap-drop', 'chown', '--cap-add', 'CAP_Sys_Ptrace', 'sec:probe', 'sh', '-c', `${STATUS}; mkdir /x 2>&1; echo "sync $(probe syscall 162)"; echo "getppid $(probe syscall 110)"; echo "getpid $(probe syscall 39)"`));
    assert.equal(status(out, 'Seccomp'), '2', out);
    assert.equal(status(out, 'NoNewPrivs'), '0', out);
    const caps = BigInt(`0x${status(out, 'CapBnd')}`);
    assert.equal(caps & capabilityMask(['CAP_CHOWN']), 0n, out);
    assert.equal(caps & capabilityMask(['CAP_SYS_PTRACE']), capabilityMask(['CAP_SYS_PTRACE']), out);
    assert.match(out, /Permission denied/, out);
    assert.match(out, /^sync ERRNO 22$/m, out);
    assert.match(out, /^getppid ERRNO 5$/m, out);
    assert.match(out, /^getpid RET \d+$/m, out);

    // The default profile, its rules judged by the final capabilities: with CAP_SYS_ADMIN, no overlay on user namespaces.
    const admin = ok(berth('run', '--rm', '--network', 'none', '--cap-add', 'sys_admin', 'sec:probe', 'sh', '-c', `${STATUS}; sh /calls.sh`));
    assert.equal(status(admin, 'Seccomp'), '2', admin);
    const got = results(admin);
    assert.equal(got.get('unshare(CLONE_NEWUSER)'), 'RET 0', admin);
    assert.notEqual(got.get('clone3'), ENOSYS, admin);
    assert.equal(got.get('keyctl'), EPERM, admin);
  });

  test('--privileged: every capability berth holds, no seccomp even with a profile, host devices, /sys and /proc/sys writable, nothing masked', async (t) => {
    const { berth } = berthRoot(t, 'sec-privileged');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    const file = profileFile(t, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['getppid'], action: 'SCMP_ACT_ERRNO' }] });
    // A node of the host's /dev that a container does not get by default (/dev/net/tun, /dev/kmsg...).
    const device = hostDevices().find((d) => !DEFAULT_DEVICES.some((own) => own.path === d.path) && d.path !== '/dev/ptmx')?.path;
    assert.ok(device, 'the host has no device node beyond the default ones');
    const script = `${STATUS}; sh /calls.sh; ls ${device}; grep -E ' /(sys|proc/sys|proc/keys|proc/timer_list) ' /proc/self/mountinfo | cut -d' ' -f5,6; echo "getppid $(probe syscall 110)"`;
    const out = ok(berth('run', '--rm', '--network', 'none', '--privileged', '--security-opt', `seccomp=${file}`, 'sec:probe', 'sh', '-c', script));
    t.diagnostic(out.trim().split('\n').join('; '));
    assert.equal(status(out, 'Seccomp'), '0', out);
    assert.equal(status(out, 'CapEff'), capHex(allCapabilities()), out);
    assert.equal(results(out).get('unshare(CLONE_NEWUSER)'), 'RET 0', out);
    assert.match(out, /^getppid RET \d+$/m, out);
    assert.match(out, new RegExp(`^${device}$`, 'm'), out);
    assert.match(out, /^\/sys rw,/m, out);
    assert.doesNotMatch(out, /^\/proc\/(sys|keys|timer_list) /m, out);
    // And without it: none of that.
    const plain = ok(berth('run', '--rm', '--network', 'none', 'sec:probe', 'sh', '-c', script.replace(`ls ${device}`, `ls ${device} 2>&1`)));
    assert.match(plain, /^\/sys ro,/m, plain);
    assert.match(plain, /^\/proc\/sys ro,/m, plain);
    assert.match(plain, /No such file/, plain);
  });

  test('exec gets the container\'s seccomp, capabilities and NoNewPrivs; exec --privileged every capability under the same seccomp filter, as docker\'s; inspect shows the flags in HostConfig', async (t) => {
    const { berth } = berthRoot(t, 'sec-exec');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    ok(berth('run', '-d', '--name', 'sec-exec', '--network', 'none', '--cap-drop', 'chown', '--security-opt', 'no-new-privileges', 'sec:probe', 'sleep', '1000'));
    await waitFor('the container to run', () => ok(berth('inspect', '-f', '{{.State.Running}}', 'sec-exec')).trim() === 'true', 20_000, 50);
    const plain = ok(berth('exec', 'sec-exec', 'sh', '-c', `${STATUS}; sh /calls.sh`));
    assert.equal(status(plain, 'Seccomp'), '2', plain);
    assert.equal(status(plain, 'NoNewPrivs'), '1', plain);
    assert.equal(status(plain, 'CapBnd'), capHex(DOCKER_CAPABILITIES.filter((c) => c !== 'CAP_CHOWN')), plain);
    assert.equal(results(plain).get('keyctl'), EPERM, plain);
    const privileged = ok(berth('exec', '--privileged', 'sec-exec', 'sh', '-c', `${STATUS}; sh /calls.sh`));
    assert.equal(status(privileged, 'Seccomp'), '2', privileged);
    assert.equal(status(privileged, 'NoNewPrivs'), '1', privileged);
    assert.equal(status(privileged, 'CapEff'), capHex(allCapabilities()), privileged);
    assert.equal(results(privileged).get('keyctl'), EPERM, privileged);

    const host = JSON.parse(ok(berth('inspect', '-f', '{{json .HostConfig}}', 'sec-exec')));
    assert.deepEqual([host.Privileged, host.CapAdd, host.CapDrop, host.SecurityOpt], [false, null, ['chown'], ['no-new-privileges']]);
    ok(berth('create', '--name', 'sec-created', '--network', 'none', '--privileged', '--cap-add', 'ALL', '--security-opt', 'apparmor=unconfined', '--security-opt', 'label=disable', 'sec:probe', 'true'));
    const created = JSON.parse(ok(berth('inspect', '-f', '{{json .HostConfig}}', 'sec-created')));
    assert.deepEqual([created.Privileged, created.CapAdd, created.CapDrop, created.SecurityOpt], [true, ['ALL'], null, ['apparmor=unconfined', 'label=disable']]);
  });

  test('bad security flags: one line naming what is wrong, nothing left behind', async (t) => {
    const { berth } = berthRoot(t, 'sec-bad');
    probeImage(t, berth, 'sec:probe', { 'calls.sh': callScript() });
    const badAction = profileFile(t, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_NOPE' }] });
    const badOp = profileFile(t, { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_SOMETIMES' }] }] });
    assertRefused(berth, ['--cap-add', 'bogus'], /--cap-add: unknown capability "bogus"/);
    assertRefused(berth, ['--cap-drop', 'CAP_NOPE'], /--cap-drop: unknown capability "CAP_NOPE"/);
    assertRefused(berth, ['--security-opt', 'foo=bar'], /--security-opt foo=bar: unknown security option "foo"/);
    assertRefused(berth, ['--security-opt', 'no-new-privileges=maybe'], /no-new-privileges=maybe: must be true or false/);
    assertRefused(berth, ['--security-opt', 'apparmor=docker-default'], /--security-opt apparmor=docker-default: .*AppArmor/);
    assertRefused(berth, ['--security-opt', 'label=type:container_t'], /--security-opt label=type:container_t: .*SELinux/);
    assertRefused(berth, ['--security-opt', `seccomp=${badAction}`], /syscalls\[0\]\.action: unknown action "SCMP_ACT_NOPE"/);
    assertRefused(berth, ['--security-opt', `seccomp=${badOp}`], /syscalls\[0\]\.args\[0\]\.op: unknown operator "SCMP_CMP_SOMETIMES"/);
    assertRefused(berth, ['--security-opt', 'seccomp=/nonexistent/profile.json'], /seccomp profile \/nonexistent\/profile\.json not found/);
  });
});
