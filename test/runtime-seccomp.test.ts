// linux.seccomp, seen from inside real containers: the filter is there (/proc/self/status), each
// action does what the kernel says it does, argument rules match, the runtime's own steps are done
// before the filter bites (a profile that blocks setuid still starts a non-root container), exec
// gets the container's filter, a notify listener reaches its agent, a bad profile is refused
// naming its field and leaves nothing, and the compiled filter is cached and verified.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Step } from '../src/kernel/plan.js';
import { syscallNumbers } from '../src/kernel/seccomp.js';
import { placeSeccomp, privilegeSteps } from '../src/runtime/privileges.js';
import type { SeccompFilter } from '../src/runtime/seccomp.js';
import type { Seccomp, Spec } from '../src/oci/runtime-spec.js';
import { bindMount, makeBundle, type Bundle } from './helpers/bundle.js';
import { validateAgainstRuntimeSchema } from './helpers/oci-schema.js';
import { leftovers, runtime, runtimeOk, show, tempRoot, unique, waitFor, type Result } from './helpers/run.js';
import { containersCommonProfile, CONTAINERS_COMMON_PROFILE } from './helpers/seccomp-profile.js';

/** This machine's syscall numbers, as libseccomp knows them: the probe takes numbers. */
function nr(name: string): number {
  const [number] = syscallNumbers([name]);
  if (number === null || number < 0) throw new Error(`no syscall ${name} here`);
  return number;
}

const EPERM = 1;
const ESRCH = 3;
const EBADF = 9;
const EFAULT = 14;
const EINVAL = 22;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
const SIGSYS_EXIT = 128 + 31;

async function bundleWith(t: TestContext, args: string[], edit: (s: Spec) => void): Promise<Bundle> {
  const bundle = await makeBundle({ args, probe: true, edit });
  t.after(bundle.cleanup);
  return bundle;
}

/** Runs `args` in a container of its own under `seccomp` (more changes in `edit`); the result of `run`. */
async function runUnder(t: TestContext, seccomp: Seccomp, args: string[], edit: (s: Spec) => void = () => {}): Promise<Result> {
  const root = tempRoot(t);
  const bundle = await bundleWith(t, args, (s) => {
    s.linux!.seccomp = seccomp;
    edit(s);
  });
  return runtime(root, 'run', '--bundle', bundle.dir, unique('seccomp'));
}

/** `probe syscall NR ARGS...` lines for a shell, each answer on its own line. */
function probes(...calls: (string | number)[][]): string[] {
  return ['sh', '-c', calls.map(([name, ...args]) => `probe syscall ${nr(String(name))} ${args.join(' ')}`).join('; ')];
}

/** A profile that allows everything but what `rules` say. */
function allowBut(...syscalls: Seccomp['syscalls'] & object): Seccomp {
  return { defaultAction: 'SCMP_ACT_ALLOW', syscalls };
}

function seccompStatus(text: string): { mode: string; filters: string } {
  return { mode: /^Seccomp:\s+(\d+)/m.exec(text)?.[1] ?? '?', filters: /^Seccomp_filters:\s+(\d+)/m.exec(text)?.[1] ?? '?' };
}

/** The cgroup dirs a container `id` would have had (berth's default cgroupsPath is /berth/<id>). */
function cgroupDirsOf(id: string): string[] {
  const bases = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d))];
  return bases.map((base) => join(base, 'berth', id)).filter((dir) => existsSync(dir));
}

const DEFAULT_CAPS = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];

describe('a profile is applied', () => {
  test('containers-common\'s profile (podman\'s default): Seccomp 2 with one filter, its blocked syscalls fail, programs run', async (t) => {
    assert.ok(existsSync(CONTAINERS_COMMON_PROFILE), `${CONTAINERS_COMMON_PROFILE} missing: scripts/setup.sh installs golang-github-containers-common`);
    const profile = containersCommonProfile(DEFAULT_CAPS);
    const script = [
      'grep ^Seccomp /proc/self/status',
      'ls / | wc -l; id -u; echo hello | tr a-z A-Z',
      // Blocked by name (EPERM), and absent from the allow list (the profile's default, ENOSYS).
      `probe syscall ${nr('kexec_load')} 0 0 0 0`,
      `probe syscall ${nr('init_module')} 0 0 0`,
      `probe syscall ${nr('open_by_handle_at')} 0 0 0`,
      `probe syscall ${nr('add_key')} 0 0 0 0 0`,
      // personality is allowed only with the arguments the profile lists (SCMP_CMP_EQ).
      `probe syscall ${nr('personality')} 0xffffffff`,
      `probe syscall ${nr('personality')} 1`,
    ].join('; ');
    const r = await runUnder(t, profile, ['sh', '-c', script]);
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(seccompStatus(r.stdout), { mode: '2', filters: '1' });
    const lines = r.stdout.trim().split('\n').slice(2);
    assert.ok(Number(lines[0]) > 5, `ls / listed ${lines[0]} entries`);
    assert.deepEqual(lines.slice(1), ['0', 'HELLO', `ERRNO ${EPERM}`, `ERRNO ${EPERM}`, `ERRNO ${EPERM}`, `ERRNO ${ENOSYS}`, 'RET 0', `ERRNO ${ENOSYS}`]);
  });

  test('without linux.seccomp there is no filter', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleWith(t, ['grep', '^Seccomp', '/proc/self/status'], () => {});
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('nofilter'));
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(seccompStatus(r.stdout), { mode: '0', filters: '0' });
  });

  test('defaultAction ALLOW with a few ERRNO rules: keyctl, add_key and unshare(CLONE_NEWUSER) get EPERM, the rest works', async (t) => {
    const profile = allowBut(
      { names: ['keyctl', 'add_key', 'request_key'], action: 'SCMP_ACT_ERRNO' },
      { names: ['unshare'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }] },
    );
    const r = await runUnder(t, profile, probes(['keyctl', 0, 0], ['add_key', 0, 0, 0, 0, 0], ['unshare', CLONE_NEWUSER], ['unshare', CLONE_NEWUSER | 0x04000000], ['unshare', 0], ['getppid']));
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), [`ERRNO ${EPERM}`, `ERRNO ${EPERM}`, `ERRNO ${EPERM}`, `ERRNO ${EPERM}`, 'RET 0', 'RET 0']);
  });
});

describe('actions', () => {
  test('SCMP_ACT_ERRNO returns the chosen errnoRet; defaultErrnoRet is the default\'s', async (t) => {
    const profile: Seccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 77,
      syscalls: [
        { names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 },
        // Everything the probe (static glibc) and the exec need; not uname, not getppid.
        { names: ['execve', 'brk', 'arch_prctl', 'set_tid_address', 'set_robust_list', 'rseq', 'prlimit64', 'readlink', 'mprotect', 'getrandom', 'write', 'exit_group', 'fstat', 'newfstatat', 'ioctl', 'mmap', 'munmap'], action: 'SCMP_ACT_ALLOW' },
      ],
    };
    const r = await runUnder(t, profile, ['probe', 'syscall', String(nr('uname')), '0']);
    assert.equal(r.status, 0, show(r));
    assert.equal(r.stdout.trim(), 'ERRNO 42');
    const other = await runUnder(t, profile, ['probe', 'syscall', String(nr('getppid'))]);
    assert.equal(other.stdout.trim(), 'ERRNO 77', show(other));
  });

  for (const action of ['SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP']) {
    test(`${action} ends the process with SIGSYS (exit ${SIGSYS_EXIT})`, async (t) => {
      const r = await runUnder(t, allowBut({ names: ['getppid'], action }), ['probe', 'syscall', String(nr('getppid'))]);
      assert.equal(r.status, SIGSYS_EXIT, show(r));
      assert.equal(r.stdout, '');
    });
  }

  test('SCMP_ACT_TRACE with no tracer fails the call with ENOSYS; SCMP_ACT_LOG lets it run', async (t) => {
    const r = await runUnder(
      t,
      allowBut({ names: ['uname'], action: 'SCMP_ACT_TRACE', errnoRet: 5 }, { names: ['getppid'], action: 'SCMP_ACT_LOG' }),
      probes(['uname', 0], ['getppid']),
    );
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), [`ERRNO ${ENOSYS}`, 'RET 0']);
  });
});

describe('argument rules', () => {
  test('every operator: NE, LT, LE, EQ, GE, GT, MASKED_EQ; conditions on two arguments must both hold', async (t) => {
    const rule = (name: string, errnoRet: number, args: NonNullable<Seccomp['syscalls']>[number]['args']) => ({ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet, args });
    const profile = allowBut(
      rule('getpgid', 50, [{ index: 0, value: 1000, op: 'SCMP_CMP_GT' }]),
      rule('getsid', 51, [{ index: 0, value: 1000, op: 'SCMP_CMP_GE' }]),
      rule('sched_getscheduler', 52, [{ index: 0, value: 5, op: 'SCMP_CMP_LT' }]),
      rule('sched_getparam', 53, [{ index: 0, value: 7, op: 'SCMP_CMP_LE' }]),
      rule('sched_get_priority_max', 54, [{ index: 0, value: 0, op: 'SCMP_CMP_NE' }]),
      rule('getpriority', 55, [
        { index: 0, value: 1, op: 'SCMP_CMP_LE' },
        { index: 1, value: 4242, op: 'SCMP_CMP_EQ' },
      ]),
      rule('dup', 56, [{ index: 0, value: 0xf0, valueTwo: 0x30, op: 'SCMP_CMP_MASKED_EQ' }]),
    );
    const r = await runUnder(
      t,
      profile,
      probes(
        ['getpgid', 2000], ['getpgid', 1000],
        ['getsid', 1000], ['getsid', 999],
        ['sched_getscheduler', 4], ['sched_getscheduler', 5000],
        ['sched_getparam', 7, 0], ['sched_getparam', 8000, 0],
        ['sched_get_priority_max', 1], ['sched_get_priority_max', 0],
        ['getpriority', 0, 4242], ['getpriority', 0, 4243], ['getpriority', 2, 4242],
        ['dup', 0x31], ['dup', 0x41],
      ),
    );
    assert.equal(r.status, 0, show(r));
    const [gt, notGt, ge, notGe, lt, notLt, le, notLe, ne, notNe, both, secondFails, firstFails, masked, notMasked] = r.stdout.trim().split('\n');
    assert.deepEqual([gt, ge, lt, le, ne, both, masked], ['ERRNO 50', 'ERRNO 51', 'ERRNO 52', 'ERRNO 53', 'ERRNO 54', 'ERRNO 55', 'ERRNO 56']);
    // Not matched: the kernel's own answer (no such process; sched_getparam checks its NULL first).
    assert.deepEqual([notGt, notGe, notLt, notLe], [`ERRNO ${ESRCH}`, `ERRNO ${ESRCH}`, `ERRNO ${ESRCH}`, `ERRNO ${EINVAL}`]);
    assert.equal(notNe, 'RET 0');
    assert.doesNotMatch(secondFails, /ERRNO 55/);
    assert.doesNotMatch(firstFails, /ERRNO 55/);
    assert.equal(notMasked, `ERRNO ${EBADF}`);
  });

  test('two conditions on the same argument are either-or rules, as runc makes them', async (t) => {
    const profile = allowBut({
      names: ['getpgid'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 60,
      args: [
        { index: 0, value: 100, op: 'SCMP_CMP_EQ' },
        { index: 0, value: 200, op: 'SCMP_CMP_EQ' },
      ],
    });
    const r = await runUnder(t, profile, probes(['getpgid', 100], ['getpgid', 200], ['getpgid', 300]));
    assert.deepEqual(r.stdout.trim().split('\n'), ['ERRNO 60', 'ERRNO 60', `ERRNO ${ESRCH}`], show(r));
  });
});

describe('where the filter is loaded', () => {
  const blockIdentity = (): Seccomp =>
    allowBut({ names: ['setuid', 'setresuid', 'setgid', 'setresgid', 'setgroups', 'setfsuid', 'setfsgid'], action: 'SCMP_ACT_ERRNO' });

  test('after the user change: a non-root container starts under a profile that blocks setuid (with no_new_privs)', async (t) => {
    const r = await runUnder(t, blockIdentity(), ['sh', '-c', `id -u; id -g; probe syscall ${nr('setresuid')} 0 0 0`], (s) => {
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.noNewPrivileges = true;
    });
    assert.equal(r.status, 0, show(r));
    assert.deepEqual(r.stdout.trim().split('\n'), ['1000', '1000', `ERRNO ${EPERM}`]);
  });

  test('without no_new_privs too: CAP_SYS_ADMIN is held only until the filter is loaded, then dropped', async (t) => {
    const r = await runUnder(t, blockIdentity(), ['sh', '-c', 'id -u; grep -E "^(CapEff|CapPrm|NoNewPrivs|Seccomp):" /proc/self/status'], (s) => {
      s.process.user = { uid: 1000, gid: 1000 };
      s.process.noNewPrivileges = false;
    });
    assert.equal(r.status, 0, show(r));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], '1000');
    assert.match(r.stdout, /^CapPrm:\s+0+$/m);
    assert.match(r.stdout, /^CapEff:\s+0+$/m);
    assert.match(r.stdout, /^NoNewPrivs:\s+0$/m);
    assert.match(r.stdout, /^Seccomp:\s+2$/m);
  });

  test('a root process without no_new_privs keeps exactly its spec\'s capabilities', async (t) => {
    const r = await runUnder(t, allowBut({ names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 }), ['probe', 'caps'], (s) => {
      s.process.noNewPrivileges = false;
    });
    assert.equal(r.status, 0, show(r));
    // CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE: no CAP_SYS_ADMIN (bit 21) left over.
    const expected = ((1n << 5n) | (1n << 10n) | (1n << 29n)).toString(16).padStart(16, '0');
    assert.match(r.stdout, new RegExp(`^CapEff:\\s+${expected}$`, 'm'));
    assert.match(r.stdout, new RegExp(`^CapPrm:\\s+${expected}$`, 'm'));
  });

  test('exec into a container gets the container\'s filter, with and without --process', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleWith(t, ['sleep', '60'], (s) => {
      s.linux!.seccomp = allowBut({ names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 });
    });
    const id = unique('exec');
    runtimeOk(root, 'run', '--detach', '--bundle', bundle.dir, id);
    t.after(() => runtime(root, 'delete', '--force', id));
    const byArgs = runtime(root, 'exec', id, 'sh', '-c', `grep ^Seccomp: /proc/self/status; probe syscall ${nr('uname')} 0`);
    assert.equal(byArgs.status, 0, show(byArgs));
    assert.deepEqual(byArgs.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['Seccomp: 2', 'ERRNO 42']);
    const processFile = join(bundle.dir, 'process.json');
    writeFileSync(processFile, JSON.stringify({ args: ['probe', 'syscall', String(nr('uname')), '0'], cwd: '/', user: { uid: 1000, gid: 1000 }, env: ['PATH=/bin'] }));
    const byProcess = runtime(root, 'exec', '--process', processFile, id);
    assert.equal(byProcess.status, 0, show(byProcess));
    assert.equal(byProcess.stdout.trim(), 'ERRNO 42');
  });

  test('--dry-run shows the seccomp step as a summary, placed after the user change', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleWith(t, ['true'], (s) => {
      s.linux!.seccomp = containersCommonProfile(DEFAULT_CAPS);
    });
    const out = runtimeOk(root, 'create', '--dry-run', '--bundle', bundle.dir, unique('explain'));
    const lines = out.trim().split('\n');
    const at = lines.findIndex((l) => l.startsWith('# seccomp: '));
    assert.match(lines[at], /^# seccomp: default ERRNO\(ENOSYS\), \d+ syscalls ERRNO\(EPERM\), \d{3} syscalls allowed, \d+ rules on arguments \(seccomp\(SECCOMP_SET_MODE_FILTER\): \d+ BPF instructions\)$/);
    // Right before the exec whose setpriv changes the user (berth loads the filter after that change).
    assert.match(lines[at + 1] ?? '', /^exec setpriv .*--reuid /, out);
    // no_new_privs (the default spec's): the last step before exec, after the wait for start.
    assert.ok(at > lines.findIndex((l) => l.startsWith('# wait for start')), out);
    assert.match(lines[at + 1], /^exec /);
  });
});

describe('the seccomp step\'s place in the plan', () => {
  const filter: SeccompFilter = { program: Buffer.alloc(8), flags: 0, listener: null, summary: 'default ALLOW', skipped: [] };
  const tail = (proc: Spec['process']): Step[] => [...privilegeSteps(proc), { op: 'chdir', path: '/' }, { op: 'execFifo', fd: 9 }];
  const ops = (steps: Step[]) => steps.map((s) => (s.op === 'sync' ? `sync:${s.tag}` : s.op));
  const base: Spec['process'] = { args: ['true'], cwd: '/', user: { uid: 1000, gid: 1000 }, capabilities: { effective: ['CAP_KILL'], permitted: ['CAP_KILL'] } };

  test('with no_new_privs: the last step before exec, after the wait for start', () => {
    const proc = { ...base, noNewPrivileges: true };
    assert.deepEqual(ops(placeSeccomp(tail(proc), proc, { filter, listenerSocketFd: null })).slice(-3), ['chdir', 'execFifo', 'seccomp']);
  });

  test('with a notify listener: before the wait for start, followed by the pause that hands it over', () => {
    const proc = { ...base, noNewPrivileges: true };
    assert.deepEqual(ops(placeSeccomp(tail(proc), proc, { filter, listenerSocketFd: 8 })).slice(-4), ['chdir', 'seccomp', 'sync:3', 'execFifo']);
  });

  test('without no_new_privs: after setuid and chdir (a profile may deny its getcwd), between a capset that keeps CAP_SYS_ADMIN and the spec\'s own', () => {
    const steps = placeSeccomp(tail(base), base, { filter, listenerSocketFd: null });
    const at = steps.findIndex((s) => s.op === 'seccomp');
    assert.deepEqual(ops(steps.slice(at - 4, at + 3)), ['setuid', 'capset', 'umask', 'chdir', 'seccomp', 'capset', 'execFifo']);
    const [held, final] = [steps[at - 3], steps[at + 1]];
    assert.ok(held.op === 'capset' && final.op === 'capset');
    assert.equal(held.effective, (1n << 5n) | (1n << 21n));
    assert.equal(final.effective, 1n << 5n);
    assert.equal(final.permitted, 1n << 5n);
  });
});

describe('SCMP_ACT_NOTIFY', () => {
  /** A seccomp agent: takes the listener from `socket`, records the container process state, answers each call with errno `answer`. */
  const AGENT = String.raw`
import array, fcntl, json, select, socket, struct, sys, time
path, out, answer = sys.argv[1], sys.argv[2], int(sys.argv[3])
server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
server.bind(path)
server.listen(1)
open(out + '.ready', 'w').close()
conn, _ = server.accept()
data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 1)
while True:
    more = conn.recv(1 << 16)
    if not more:
        break
    data += more
with open(out, 'w') as f:
    json.dump({'state': json.loads(data), 'fds': len(fds)}, f)
listener = fds[0]
RECV, SEND = 0xc0502100, 0xc0182101
poller = select.poll()
poller.register(listener, select.POLLIN)
deadline = time.time() + 30
while time.time() < deadline:
    events = poller.poll(200)
    if any(e & (select.POLLHUP | select.POLLERR) for _, e in events):
        break
    if not events:
        continue
    notif = bytearray(80)
    try:
        fcntl.ioctl(listener, RECV, notif, True)
    except OSError:
        continue
    request_id = struct.unpack_from('<Q', notif, 0)[0]
    try:
        fcntl.ioctl(listener, SEND, bytearray(struct.pack('<QqiI', request_id, 0, -answer, 0)), True)
    except OSError:
        pass
`;

  test('the listener and the container process state reach the agent at listenerPath, which answers the notified calls', async (t) => {
    const dir = mkdtempSync('/tmp/berth-test-agent-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const io = join(dir, 'io');
    const agentScript = join(dir, 'agent.py');
    writeFileSync(agentScript, AGENT);
    mkdirSync(io);
    const socketPath = join(dir, 'agent.sock');
    const record = join(dir, 'state.json');
    const agent = spawn('python3', [agentScript, socketPath, record, '36'], { stdio: 'ignore' });
    t.after(() => agent.kill('SIGKILL'));
    await waitFor('the agent to listen', () => existsSync(record + '.ready'));

    const root = tempRoot(t);
    const bundle = await bundleWith(t, ['sh', '-c', `probe syscall ${nr('mkdirat')} -100 0 0 > /io/out; probe syscall ${nr('getppid')} >> /io/out`], (s) => {
      s.linux!.seccomp = { ...allowBut({ names: ['mkdirat', 'mkdir'], action: 'SCMP_ACT_NOTIFY' }), listenerPath: socketPath, listenerMetadata: 'berth-test' };
      bindMount(s, io, '/io');
    });
    const id = unique('notify');
    // create, then start: the listener must be handed over by create, before the wait for start.
    runtimeOk(root, 'create', '--bundle', bundle.dir, id);
    const sent = JSON.parse(readFileSync(record, 'utf8'));
    assert.equal(sent.fds, 1);
    assert.deepEqual(sent.state.fds, ['seccompFd']);
    assert.equal(sent.state.metadata, 'berth-test');
    assert.equal(sent.state.state.id, id);
    assert.equal(sent.state.state.status, 'creating');
    assert.equal(sent.state.pid, JSON.parse(runtimeOk(root, 'state', id)).pid);
    runtimeOk(root, 'start', id);
    await waitFor('the container to stop', () => JSON.parse(runtimeOk(root, 'state', id)).status === 'stopped');
    // mkdirat with a NULL path: EFAULT from the kernel, ENAMETOOLONG (36) from the agent.
    assert.deepEqual(readFileSync(join(io, 'out'), 'utf8').trim().split('\n'), ['ERRNO 36', 'RET 0']);
    assert.notEqual(36, EFAULT);
    runtimeOk(root, 'delete', id);
  });

  test('an agent that is not listening: create fails naming listenerPath and leaves nothing', async (t) => {
    const root = tempRoot(t);
    const socketPath = join(mkdtempSync('/tmp/berth-test-noagent-'), 'agent.sock');
    t.after(() => rmSync(join(socketPath, '..'), { recursive: true, force: true }));
    const bundle = await bundleWith(t, ['true'], (s) => {
      s.linux!.seccomp = { ...allowBut({ names: ['mkdirat'], action: 'SCMP_ACT_NOTIFY' }), listenerPath: socketPath };
    });
    const id = unique('noagent');
    const r = runtime(root, 'create', '--bundle', bundle.dir, id);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, new RegExp(`linux\\.seccomp\\.listenerPath ${socketPath.replace(/[.]/g, '\\.')}: .*ENOENT`));
    assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
    assert.deepEqual(cgroupDirsOf(id), []);
  });
});

describe('bad profiles: one line naming the field, nothing left behind', () => {
  const cases: [string, (s: Seccomp) => void, RegExp][] = [
    ['an unknown action', (p) => void (p.syscalls![1].action = 'SCMP_ACT_FOO'), /linux\.seccomp\.syscalls\[1\]\.action: unknown action "SCMP_ACT_FOO"/],
    ['an unknown default action', (p) => void (p.defaultAction = 'SCMP_ACT_NOPE'), /linux\.seccomp\.defaultAction: unknown action "SCMP_ACT_NOPE"/],
    ['an unknown operator', (p) => void (p.syscalls![0].args = [{ index: 0, value: 1, op: 'SCMP_CMP_ABOUT' }]), /linux\.seccomp\.syscalls\[0\]\.args\[0\]\.op: unknown operator "SCMP_CMP_ABOUT"/],
    ['an argument index past the sixth', (p) => void (p.syscalls![0].args = [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }]), /linux\.seccomp\.syscalls\[0\]\.args\[0\]\.index: must be from 0 to 5/],
    ['an unknown architecture', (p) => void (p.architectures = ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX']), /linux\.seccomp\.architectures\[1\]: unknown architecture "SCMP_ARCH_VAX"/],
    ['an unknown flag', (p) => void (p.flags = ['SECCOMP_FILTER_FLAG_MAGIC']), /linux\.seccomp\.flags\[0\]: unknown flag "SECCOMP_FILTER_FLAG_MAGIC"/],
    ['errnoRet on an action that returns no errno', (p) => void (p.syscalls![1].errnoRet = 3), /linux\.seccomp\.syscalls\[1\]\.errnoRet: SCMP_ACT_KILL_PROCESS returns no errno/],
    ['NOTIFY without listenerPath', (p) => void (p.syscalls![1].action = 'SCMP_ACT_NOTIFY'), /linux\.seccomp\.listenerPath: is required when an action is SCMP_ACT_NOTIFY/],
    ['NOTIFY on write', (p) => void ((p.syscalls![1] = { names: ['write'], action: 'SCMP_ACT_NOTIFY' }), (p.listenerPath = '/tmp/x')), /linux\.seccomp\.syscalls\[1\]\.names\[0\]: SCMP_ACT_NOTIFY cannot apply to write/],
    ['listenerMetadata without listenerPath', (p) => void (p.listenerMetadata = 'x'), /linux\.seccomp\.listenerMetadata: must not be set without linux\.seccomp\.listenerPath/],
  ];
  for (const [what, spoil, message] of cases) {
    test(what, async (t) => {
      const root = tempRoot(t);
      const bundle = await bundleWith(t, ['true'], (s) => {
        const profile = allowBut({ names: ['uname'], action: 'SCMP_ACT_ERRNO' }, { names: ['getppid'], action: 'SCMP_ACT_KILL_PROCESS' });
        spoil(profile);
        s.linux!.seccomp = profile;
      });
      for (const command of ['create', 'run']) {
        const id = unique(command);
        const r = runtime(root, command, '--bundle', bundle.dir, id);
        assert.notEqual(r.status, 0, show(r));
        const lines = r.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, r.stderr);
        assert.match(lines[0], new RegExp(`^berth-runtime: ${bundle.config.replace(/[.]/g, '\\.')}: `));
        assert.match(lines[0], message);
        assert.deepEqual(leftovers(root, [bundle.dir, id], bundle.rootfs), []);
        assert.deepEqual(cgroupDirsOf(id), []);
      }
    });
  }

  test('a syscall unknown to libseccomp is skipped with a warning, and the container runs', async (t) => {
    const r = await runUnder(t, allowBut({ names: ['uname', 'no_such_syscall'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 }), ['sh', '-c', `grep ^Seccomp: /proc/self/status; probe syscall ${nr('uname')} 0`]);
    assert.equal(r.status, 0, show(r));
    assert.match(r.stderr, /^berth-runtime: warning: linux\.seccomp: syscalls unknown to libseccomp [\d.]+ skipped: no_such_syscall$/m);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.replace(/\s+/g, ' ')), ['Seccomp: 2', 'ERRNO 42']);
  });
});

describe('the cache of compiled filters', () => {
  function cachedRun(root: string, bundle: Bundle): string {
    const r = runtime(root, 'run', '--bundle', bundle.dir, unique('cache'));
    assert.equal(r.status, 0, show(r));
    return r.stdout.trim();
  }

  test('a profile compiled once is taken from the cache; a damaged or truncated entry is compiled again, never loaded', async (t) => {
    const root = tempRoot(t);
    const bundle = await bundleWith(t, ['probe', 'syscall', String(nr('uname')), '0'], (s) => {
      s.linux!.seccomp = allowBut({ names: ['uname'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 });
    });
    assert.equal(cachedRun(root, bundle), 'ERRNO 42');
    const cacheDir = join(root, '.seccomp');
    const entries = readdirSync(cacheDir);
    assert.equal(entries.length, 1);
    const entry = join(cacheDir, entries[0]);
    const good = readFileSync(entry);

    // One byte of the program changed: the entry no longer verifies, so it is compiled again and rewritten.
    const damaged = Buffer.from(good);
    damaged[damaged.length - 9] ^= 0xff;
    writeFileSync(entry, damaged);
    assert.equal(cachedRun(root, bundle), 'ERRNO 42');
    assert.deepEqual(readFileSync(entry), good);

    truncateSync(entry, good.length - 8);
    assert.equal(cachedRun(root, bundle), 'ERRNO 42');
    assert.deepEqual(readFileSync(entry), good);
    assert.deepEqual(readdirSync(cacheDir), entries);
  });
});

test('features: the document valid against the runtime-spec features schema; seccomp\'s actions, operators, architectures and flags', async () => {
  const out = JSON.parse(runtimeOk('/nonexistent-root-features', 'features'));
  const seccomp = out.linux.seccomp;
  assert.equal(seccomp.enabled, true);
  assert.equal(seccomp.actions.length, 9);
  assert.ok(seccomp.actions.includes('SCMP_ACT_NOTIFY') && seccomp.actions.includes('SCMP_ACT_KILL_PROCESS'));
  assert.deepEqual(seccomp.operators, ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']);
  assert.ok(seccomp.archs.includes('SCMP_ARCH_X86_64') && seccomp.archs.includes('SCMP_ARCH_X86'));
  assert.ok(seccomp.knownFlags.includes('SECCOMP_FILTER_FLAG_TSYNC'));
  assert.ok(seccomp.supportedFlags.includes('SECCOMP_FILTER_FLAG_LOG'));
  assert.match(out.annotations['io.github.seccomp.libseccomp.version'], /^\d+\.\d+\.\d+$/);
  assert.deepEqual(validateAgainstRuntimeSchema('features', out), []);
});
