// config.json input: validation errors name their field, berth's default specs are valid (by its
// own check and by the official schema), and what the spec allows is accepted.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CAPABILITIES, capabilityMask } from '../src/kernel/capabilities.js';
import { defaultSpec } from '../src/runtime/default-spec.js';
import { RLIM_INFINITY, RLIMITS, rlimitValue } from '../src/runtime/rlimits.js';
import { parseSpec, SpecError, validateProcess, validateSpec } from '../src/runtime/spec.js';
import type { Spec } from '../src/oci/runtime-spec.js';
import { validateAgainstRuntimeSchema } from './helpers/oci-schema.js';

// Tests reshape specs freely, including into invalid JSON shapes.
type Editable = any;

/** A fresh default spec, changed by `edit`. */
function specWith(edit: (spec: Editable) => void): Editable {
  const spec: Editable = structuredClone(defaultSpec());
  edit(spec);
  return spec;
}

function refusal(spec: unknown): SpecError {
  try {
    validateSpec(spec);
  } catch (error) {
    assert.ok(error instanceof SpecError, `expected a SpecError, got ${String(error)}`);
    return error;
  }
  assert.fail('the spec was accepted');
}

const REFUSALS: [field: string, edit: (spec: Editable) => void, problem?: RegExp][] = [
  ['ociVersion', (s) => delete s.ociVersion, /is required/],
  ['ociVersion', (s) => (s.ociVersion = '2.0.0'), /not supported/],
  ['ociVersion', (s) => (s.ociVersion = '1.0'), /semantic version/],
  ['ociVersion', (s) => (s.ociVersion = 1), /must be a string/],
  ['root', (s) => delete s.root, /is required/],
  ['root.path', (s) => (s.root.path = ''), /must not be empty/],
  ['root.path', (s) => (s.root.path = 'root\0fs'), /NUL/],
  ['root.readonly', (s) => (s.root.readonly = 'yes')],
  ['mounts', (s) => (s.mounts = {})],
  ['mounts[1]', (s) => (s.mounts[1] = '/dev')],
  ['mounts[1].destination', (s) => (s.mounts[1].destination = 'dev'), /absolute/],
  ['mounts[0].destination', (s) => delete s.mounts[0].destination, /is required/],
  ['mounts[0].destination', (s) => (s.mounts[0].destination = '/pr\0c'), /NUL/],
  ['mounts[0].type', (s) => (s.mounts[0].type = 4)],
  ['mounts[0].source', (s) => (s.mounts[0].source = null)],
  ['mounts[2].options[0]', (s) => (s.mounts[2].options[0] = 1)],
  ['mounts[0].uidMappings[0].size', (s) => (s.mounts[0].uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }])],
  ['process', (s) => delete s.process, /is required/],
  ['process.args', (s) => (s.process.args = []), /^must be a non-empty array of strings$/],
  ['process.args', (s) => (s.process.args = 'sh'), /^must be a non-empty array of strings$/],
  ['process.args[0]', (s) => (s.process.args = [0])],
  ['process.args[0]', (s) => (s.process.args = ['s\0h']), /NUL/],
  ['process.cwd', (s) => delete s.process.cwd, /is required/],
  ['process.cwd', (s) => (s.process.cwd = 'home'), /absolute/],
  ['process.env', (s) => (s.process.env = 'PATH=/bin')],
  ['process.env[1]', (s) => (s.process.env[1] = 'TERM'), /NAME=value/],
  ['process.env[1]', (s) => (s.process.env[1] = 'TERM=x\0term'), /NUL/],
  ['process.terminal', (s) => (s.process.terminal = 1)],
  ['process.consoleSize.width', (s) => (s.process.consoleSize = { height: 24 }), /is required/],
  ['process.user.uid', (s) => (s.process.user.uid = -1)],
  ['process.user.uid', (s) => (s.process.user.uid = 2 ** 32 - 1)],
  ['process.user.gid', (s) => (s.process.user.gid = 1.5)],
  ['process.user.gid', (s) => delete s.process.user.gid, /is required/],
  ['process.user.umask', (s) => (s.process.user.umask = 0o1000)],
  ['process.user.additionalGids[1]', (s) => (s.process.user.additionalGids = [5, '6'])],
  ['process.user.username', (s) => (s.process.user.username = 0)],
  ['process.capabilities.bounding[1]', (s) => (s.process.capabilities.bounding[1] = 'kill'), /capability name/],
  ['process.capabilities.effective[0]', (s) => (s.process.capabilities.effective[0] = 'CAP_FLY'), /unknown capability CAP_FLY/],
  ['process.capabilities.ambient', (s) => (s.process.capabilities.ambient = 'CAP_KILL')],
  ['process.rlimits[0].type', (s) => (s.process.rlimits[0].type = 'nofile'), /limit name/],
  ['process.rlimits[0].type', (s) => (s.process.rlimits[0].type = 'RLIMIT_FOO'), /unknown resource limit RLIMIT_FOO/],
  ['process.rlimits[1].type', (s) => s.process.rlimits.push({ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }), /twice/],
  ['process.rlimits[0].soft', (s) => (s.process.rlimits[0].soft = 2048), /hard/],
  ['process.rlimits[0].hard', (s) => (s.process.rlimits[0].hard = -1)],
  ['process.rlimits[0].soft', (s) => delete s.process.rlimits[0].soft, /is required/],
  ['process.noNewPrivileges', (s) => (s.process.noNewPrivileges = 'true')],
  ['process.oomScoreAdj', (s) => (s.process.oomScoreAdj = 1001)],
  ['process.scheduler.policy', (s) => (s.process.scheduler = {}), /is required/],
  ['process.ioPriority.class', (s) => (s.process.ioPriority = { class: 'IOPRIO_CLASS_FAST' })],
  ['process.execCPUAffinity.initial', (s) => (s.process.execCPUAffinity = { initial: 'all' })],
  ['hostname', (s) => (s.hostname = 7)],
  ['hostname', (s) => (s.hostname = 'h'.repeat(65)), /64 bytes/],
  ['domainname', (s) => (s.domainname = 'example\0org'), /NUL/],
  ['annotations["org.example.size"]', (s) => (s.annotations = { 'org.example.size': 3 })],
  ['annotations', (s) => (s.annotations = { 'a\0b': 'c' }), /NUL/],
  ['hooks', (s) => (s.hooks = [])],
  ['hooks.poststart', (s) => (s.hooks = { poststart: { path: '/bin/true' } })],
  ['hooks.prestart[0].path', (s) => (s.hooks = { prestart: [{ path: 'bin/true' }] }), /absolute/],
  ['hooks.createRuntime[0].path', (s) => (s.hooks = { createRuntime: [{}] }), /is required/],
  ['hooks.createContainer[0].args[1]', (s) => (s.hooks = { createContainer: [{ path: '/bin/hook', args: ['hook', 2] }] })],
  ['hooks.startContainer[0].env[0]', (s) => (s.hooks = { startContainer: [{ path: '/bin/hook', env: ['X'] }] }), /NAME=value/],
  ['hooks.poststop[0].timeout', (s) => (s.hooks = { poststop: [{ path: '/bin/hook', timeout: 0 }] })],
  ['linux', (s) => (s.linux = 'yes')],
  ['linux.namespaces[2].type', (s) => (s.linux.namespaces[2].type = 'printer'), /unknown namespace type "printer"/],
  ['linux.namespaces[6].type', (s) => s.linux.namespaces.push({ type: 'pid' }), /already listed at linux\.namespaces\[0\]/],
  ['linux.namespaces[1].path', (s) => (s.linux.namespaces[1].path = 'proc/1/ns/net'), /absolute/],
  ['linux.namespaces[0].type', (s) => (s.linux.namespaces[0] = {}), /is required/],
  ['linux.uidMappings[0].size', (s) => (s.linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 0 }])],
  ['linux.gidMappings[0].hostID', (s) => (s.linux.gidMappings = [{ containerID: 0, hostID: -1, size: 1 }])],
  ['linux.gidMappings[0].containerID', (s) => (s.linux.gidMappings = [{ hostID: 1, size: 1 }]), /is required/],
  ['linux.timeOffsets.monotonic.nanosecs', (s) => (s.linux.timeOffsets = { monotonic: { secs: 1, nanosecs: 1e9 } })],
  ['linux.devices[0].type', (s) => (s.linux.devices = [{ type: 'x', path: '/dev/x', major: 1, minor: 3 }])],
  ['linux.devices[0].path', (s) => (s.linux.devices = [{ type: 'c', path: 'dev/null', major: 1, minor: 3 }]), /absolute/],
  ['linux.devices[0].major', (s) => (s.linux.devices = [{ type: 'c', path: '/dev/null', minor: 3 }]), /is required/],
  ['linux.devices[0].minor', (s) => (s.linux.devices = [{ type: 'b', path: '/dev/sda', major: 8, minor: 'a' }])],
  ['linux.devices[0].fileMode', (s) => (s.linux.devices = [{ type: 'p', path: '/dev/fifo', fileMode: 0o1000 }])],
  ['linux.devices[0].uid', (s) => (s.linux.devices = [{ type: 'p', path: '/dev/fifo', uid: -2 }])],
  ['linux.cgroupsPath', (s) => (s.linux.cgroupsPath = 12)],
  ['linux.resources.devices[0].allow', (s) => delete s.linux.resources.devices[0].allow, /is required/],
  ['linux.resources.memory.limit', (s) => (s.linux.resources.memory = { limit: '1G' })],
  ['linux.resources.pids.limit', (s) => (s.linux.resources.pids = {}), /is required/],
  ['linux.resources.unified["memory.max"]', (s) => (s.linux.resources.unified = { 'memory.max': 1 })],
  ['linux.rootfsPropagation', (s) => (s.linux.rootfsPropagation = 'everywhere')],
  ['linux.seccomp.defaultAction', (s) => (s.linux.seccomp = {}), /is required/],
  ['linux.seccomp.syscalls[0].names', (s) => (s.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] })],
  ['linux.sysctl["net.ipv4.ip_forward"]', (s) => (s.linux.sysctl = { 'net.ipv4.ip_forward': 1 })],
  ['linux.maskedPaths[0]', (s) => (s.linux.maskedPaths[0] = 'proc/kcore'), /absolute/],
  ['linux.readonlyPaths[0]', (s) => (s.linux.readonlyPaths[0] = ''), /must not be empty/],
  ['linux.mountLabel', (s) => (s.linux.mountLabel = false)],
  ['linux.intelRdt.closID', (s) => (s.linux.intelRdt = { closID: 1 })],
  ['linux.personality.domain', (s) => (s.linux.personality = { domain: 'BSD' })],
];

describe('validateSpec refuses, naming the field', () => {
  for (const [field, edit, problem] of REFUSALS) {
    test(`${field}${problem ? ` (${problem.source})` : ''}`, () => {
      const error = refusal(specWith(edit));
      assert.equal(error.field, field);
      assert.equal(error.file, 'config.json');
      assert.ok(error.message.startsWith(`config.json: ${field}: `), error.message);
      assert.ok(!error.message.includes('\n'), 'one line');
      if (problem) assert.match(error.message.slice(`config.json: ${field}: `.length), problem);
    });
  }

  test('a document that is not an object', () => {
    const error = refusal([]);
    assert.equal(error.field, '');
    assert.equal(error.message, 'config.json: must be an object, got array');
  });

  test('names the file it was given', () => {
    assert.throws(() => validateSpec({}, '/bundles/web/config.json'), {
      name: 'SpecError',
      message: '/bundles/web/config.json: ociVersion: is required',
    });
  });
});

describe('validateSpec accepts', () => {
  test('defaultSpec(), and returns the same object', () => {
    const spec = defaultSpec();
    assert.equal(validateSpec(spec), spec);
  });

  test('defaultSpec({ rootless: true })', () => {
    validateSpec(defaultSpec({ rootless: true }));
  });

  for (const version of ['1.0.2', '1.1.0', '1.2.0', '1.3.0', '1.0.0-rc5', '1.0.2-dev', '1.4.0']) {
    test(`ociVersion ${version}`, () => {
      validateSpec(specWith((s) => (s.ociVersion = version)));
    });
  }

  test('unknown fields at every level, and keeps them', () => {
    const spec = specWith((s) => {
      s.vm = { hypervisor: { path: '/usr/bin/qemu' } };
      s.process.futureKnob = 1;
      s.process.user.futureKnob = 'x';
      s.mounts[0].futureKnob = [null];
      s.linux.futureKnob = { nested: true };
      s.linux.resources.futureController = { limit: 'any' };
      s.hooks = { prestart: [{ path: '/bin/hook', futureKnob: 1 }], futureStage: 'anything' };
    });
    const valid: Editable = validateSpec(spec);
    assert.deepEqual(valid.vm, { hypervisor: { path: '/usr/bin/qemu' } });
    assert.equal(valid.process.futureKnob, 1);
    assert.deepEqual(valid.linux.futureKnob, { nested: true });
    assert.equal(valid.hooks.futureStage, 'anything');
  });

  test('a time namespace with offsets', () => {
    validateSpec(
      specWith((s) => {
        s.linux.namespaces.push({ type: 'time' });
        s.linux.timeOffsets = { monotonic: { secs: 86400, nanosecs: 0 }, boottime: { secs: -5 } };
      }),
    );
  });

  test('namespaces joined by path, every hook kind, devices, resources, seccomp', () => {
    validateSpec(
      specWith((s) => {
        s.linux.namespaces[1] = { type: 'network', path: '/proc/1/ns/net' };
        s.hooks = Object.fromEntries(
          ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'].map((kind) => [
            kind,
            [{ path: '/usr/bin/hook', args: ['hook', kind], env: ['A=b'], timeout: 5 }],
          ]),
        );
        s.linux.devices = [
          { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
          { type: 'p', path: '/dev/fifo' },
        ];
        s.linux.sysctl = { 'net.ipv4.ip_forward': '1' };
        s.linux.rootfsPropagation = 'rslave';
        s.linux.resources.memory = { limit: 536870912, swap: -1, disableOOMKiller: false };
        s.linux.resources.cpu = { shares: 1024, quota: 50000, period: 100000, cpus: '0-1' };
        s.linux.resources.pids = { limit: -1 };
        s.linux.resources.unified = { 'memory.high': '400M' };
        s.linux.seccomp = {
          defaultAction: 'SCMP_ACT_ERRNO',
          architectures: ['SCMP_ARCH_X86_64'],
          syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }],
        };
        s.process.user = { uid: 1000, gid: 1000, umask: 0o022, additionalGids: [4, 24], username: 'app' };
        s.process.capabilities.ambient = [];
        s.process.consoleSize = { height: 24, width: 80 };
        s.process.oomScoreAdj = -1000;
      }),
    );
  });

  test('unlimited rlimits written as 2^64-1', () => {
    const text = JSON.stringify(defaultSpec()).replace('"hard":1024,"soft":1024', '"hard":18446744073709551615,"soft":18446744073709551615');
    const spec = parseSpec(text);
    assert.equal(rlimitValue(spec.process.rlimits![0]!.hard), RLIM_INFINITY);
  });
});

describe('parseSpec', () => {
  test('round-trips defaultSpec()', () => {
    assert.deepEqual(parseSpec(JSON.stringify(defaultSpec(), null, 2)), defaultSpec());
  });

  test('malformed JSON is one line naming the file and the place', () => {
    for (const text of ['{"ociVersion": }', '{\n  "ociVersion": "1.3.0",\n}\n', '']) {
      assert.throws(() => parseSpec(text, 'bundle/config.json'), (error: unknown) => {
        assert.ok(error instanceof SpecError);
        assert.equal(error.field, '');
        assert.match(error.message, /^bundle\/config\.json: malformed JSON: \S/);
        assert.ok(!error.message.includes('\n'), error.message);
        return true;
      });
    }
    assert.throws(() => parseSpec('{\n  "ociVersion": "1.3.0",\n}\n'), /line 3 column 1\)$/);
  });

  test('valid JSON, invalid spec', () => {
    assert.throws(() => parseSpec('{"ociVersion":"1.3.0","root":{"path":"rootfs"}}'), {
      message: 'config.json: process: is required',
    });
  });
});

describe('validateProcess (exec --process)', () => {
  test('paths are relative to the process document', () => {
    assert.throws(() => validateProcess({ args: [], cwd: '/' }), {
      message: 'process.json: args: must be a non-empty array of strings',
    });
  });

  test('accepts the process of defaultSpec()', () => {
    const { process } = defaultSpec();
    assert.equal(validateProcess(process), process);
  });
});

describe('defaultSpec', () => {
  test('is runc spec, with berth names and terminal false', () => {
    const spec = defaultSpec();
    assert.equal(spec.ociVersion, '1.3.0');
    assert.equal(spec.process.terminal, false);
    assert.deepEqual(spec.process.args, ['sh']);
    assert.equal(spec.hostname, 'berth');
    assert.deepEqual(spec.root, { path: 'rootfs', readonly: true });
    assert.equal(spec.process.capabilities!.inheritable, undefined);
    assert.equal(spec.process.capabilities!.ambient, undefined);
    assert.deepEqual(
      spec.linux!.namespaces!.map((namespace) => namespace.type),
      ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'],
    );
    assert.deepEqual(spec.linux!.resources, { devices: [{ allow: false, access: 'rwm' }] });
    assert.ok(spec.mounts!.find((mount) => mount.destination === '/dev/pts')!.options!.includes('gid=5'));
  });

  test('takes the args', () => {
    assert.deepEqual(defaultSpec({ args: ['/bin/echo', 'hi'] }).process.args, ['/bin/echo', 'hi']);
  });

  test('rootless: the caller is root in a user namespace, with no network namespace, host /sys and no resources', () => {
    const spec = defaultSpec({ rootless: true });
    const linux = spec.linux!;
    const types = linux.namespaces!.map((namespace) => namespace.type);
    assert.ok(types.includes('user'));
    assert.ok(!types.includes('network'));
    assert.deepEqual(linux.uidMappings, [{ containerID: 0, hostID: process.geteuid!(), size: 1 }]);
    assert.deepEqual(linux.gidMappings, [{ containerID: 0, hostID: process.getegid!(), size: 1 }]);
    assert.equal(linux.resources, undefined);
    const sys = spec.mounts!.find((mount) => mount.destination === '/sys')!;
    assert.deepEqual(sys, { destination: '/sys', type: 'none', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
    const devpts = spec.mounts!.find((mount) => mount.destination === '/dev/pts')!;
    assert.ok(!devpts.options!.some((option) => option.startsWith('gid=')));
  });
});

describe('capabilities and rlimits tables', () => {
  test('capability numbers are the kernel’s', () => {
    assert.equal(CAPABILITIES.length, 41);
    assert.equal(CAPABILITIES[0], 'CAP_CHOWN');
    assert.equal(CAPABILITIES[21], 'CAP_SYS_ADMIN');
    assert.equal(CAPABILITIES[40], 'CAP_CHECKPOINT_RESTORE');
    assert.equal(new Set(CAPABILITIES).size, CAPABILITIES.length);
  });

  test('capabilityMask', () => {
    assert.equal(capabilityMask(defaultSpec().process.capabilities!.bounding!), (1n << 29n) | (1n << 5n) | (1n << 10n));
    assert.equal(capabilityMask(['CAP_CHECKPOINT_RESTORE']), 1n << 40n);
    assert.equal(capabilityMask([]), 0n);
    assert.throws(() => capabilityMask(['CAP_FLY']), /unknown capability "CAP_FLY"/);
  });

  test('rlimit numbers and unlimited', () => {
    assert.equal(RLIMITS['RLIMIT_NOFILE'], 7);
    assert.equal(RLIMITS['RLIMIT_RTTIME'], 15);
    assert.equal(rlimitValue(1024), 1024n);
    assert.equal(rlimitValue(2 ** 64), RLIM_INFINITY);
  });
});

describe('the official runtime-spec schema', () => {
  test('accepts defaultSpec()', () => {
    assert.deepEqual(validateAgainstRuntimeSchema('config', defaultSpec()), []);
  });

  test('accepts defaultSpec({ rootless: true })', () => {
    assert.deepEqual(validateAgainstRuntimeSchema('config', defaultSpec({ rootless: true })), []);
  });

  test('refuses what it should (the check is not vacuous)', () => {
    const spec: Spec = specWith((s) => {
      s.ociVersion = 1;
      s.linux.namespaces[0].type = 'printer';
    });
    const errors = validateAgainstRuntimeSchema('config', spec);
    assert.ok(errors.some((error) => error.startsWith('/ociVersion')), errors.join('\n'));
    assert.ok(errors.some((error) => error.startsWith('/linux/namespaces/0/type')), errors.join('\n'));
  });
});
