// The cgroup v2 device filter, for real: an eBPF program attached to a cgroup on this host's
// cgroup2 mount (present on hybrid and unified hosts alike), tested from a shell placed inside it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout } from '../src/cgroups/detect.js';
import { attachDeviceFilter, deviceFilterProgram } from '../src/cgroups/device-filter.js';
import { containerDeviceRules } from '../src/cgroups/device-rules.js';
import type { DeviceRule } from '../src/oci/runtime-spec.js';

const v2 = detectCgroupLayout().v2;
const skip = v2 ? false : 'this host has no cgroup2 mount';

/** Runs `script` in a shell that first moves itself into a fresh cgroup with the filter attached. */
function inFilteredCgroup(rules: DeviceRule[], script: string): string {
  const dir = join(v2 as string, `berth-test-devices-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  mkdirSync(dir);
  try {
    attachDeviceFilter(dir, rules);
    const r = spawnSync('sh', ['-c', `echo $$ > ${dir}/cgroup.procs && ${script}`], { encoding: 'utf8' });
    return r.stdout;
  } finally {
    rmdirSync(dir);
  }
}

test('device filter: deny-all plus the runtime defaults lets /dev/null and /dev/zero through', { skip }, () => {
  const out = inFilteredCgroup(containerDeviceRules([{ allow: false, access: 'rwm' }]), 'echo x > /dev/null && echo null-ok; head -c1 /dev/zero >/dev/null && echo zero-ok');
  assert.equal(out, 'null-ok\nzero-ok\n');
});

test('device filter: with CAP_MKNOD a block device can be made but not read (no host disk through mknod)', { skip }, () => {
  const node = `/tmp/berth-test-blk-${process.pid}`;
  // The host's first block device (/proc/partitions: a header, a blank line, then "major minor blocks name");
  // a machine without one (the cgroup v2 guest boots from 9p) tries 8:0, whose open the filter
  // refuses all the same (EPERM, before the kernel looks for the disk: ENXIO would be no proof).
  const [major, minor] = (readFileSync('/proc/partitions', 'utf8').split('\n')[2]?.trim() || '8 0').split(/\s+/);
  const out = inFilteredCgroup(
    containerDeviceRules([{ allow: false, access: 'rwm' }]),
    `rm -f ${node}; mknod ${node} b ${major} ${minor} && echo mknod-ok; ` +
      `if err=$(head -c1 ${node} 2>&1 >/dev/null); then echo READ; else case "$err" in *"Operation not permitted"*) echo denied ;; *) echo "failed otherwise: $err" ;; esac; fi; rm -f ${node}`,
  );
  assert.equal(out, 'mknod-ok\ndenied\n');
});

test('device filter: a spec rule denying /dev/zero reads is overridden by nothing after it', { skip }, () => {
  const rules: DeviceRule[] = [{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 5, access: 'r' }];
  const out = inFilteredCgroup(rules, 'head -c1 /dev/zero >/dev/null 2>&1 && echo zero-read || echo zero-denied; echo x > /dev/zero && echo zero-write');
  assert.equal(out, 'zero-denied\nzero-write\n');
});

test('device filter program: rules after a match-everything rule are not laid out (the verifier refuses dead code)', () => {
  const allowAll = deviceFilterProgram([{ allow: true, access: 'rwm' }]);
  // 6 prologue instructions + mov r0,1 + exit.
  assert.equal(allowAll.length / 8, 8);
  const withDefault = deviceFilterProgram([{ allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
  // prologue + (type, major, minor tests + verdict) + default deny.
  assert.equal(withDefault.length / 8, 6 + 5 + 2);
});
