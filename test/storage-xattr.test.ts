// Extended attributes on a filesystem that holds none of a kind: a tmpfs of kernels before 6.6 has
// no user.* attributes and answers ENOTSUP, where an export or a diff only asks whether one is set.
// Meaningful in the pure cgroup v2 guest (Debian's 6.1 kernel, scripts/test-v2.sh); on newer
// kernels the same calls answer "not set" directly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { native } from '../src/kernel/native.js';
import { getXattr, listXattrs } from '../src/storage/xattr.js';

test('on a tmpfs, an attribute the filesystem cannot hold reads as not set, and listing gives what it holds', (t) => {
  const dir = mkdtempSync('/tmp/berth-test-xattr-');
  native.mount('tmpfs', dir, 'tmpfs', 0, null);
  t.after(() => {
    native.umount2(dir, 0);
    rmSync(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'f');
  writeFileSync(file, '');
  assert.equal(getXattr(file, 'user.berth-test'), null);
  assert.equal(getXattr(file, 'trusted.overlay.opaque'), null);
  assert.deepEqual(listXattrs(file).filter((n) => n.startsWith('user.')), []);
});
