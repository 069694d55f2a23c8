// berth's security defaults and flags, through its CLI: the default seccomp profile
// (containers-common's with berth's overlay), as a container sees it from inside with the probe
// (test/probe/probe.c, `probe syscall NR ARG...`). Few containers, each checking several things.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { arch } from 'node:os';
import { busyboxAvailable, BUSYBOX_MISSING_REASON } from './helpers/image-fixture.js';
import { probeImage } from './helpers/probe-image.js';
import { berthRoot, ok } from './helpers/berth-cli.js';
import { DOCKER_CAPABILITIES } from '../src/engine/container-spec.js';
import { defaultSeccomp } from '../src/engine/seccomp-profile.js';

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
