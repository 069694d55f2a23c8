// Bundles as berth's peers are given them, each run by berth-runtime as runc and crun run it:
// the config.json `runc spec` writes (ambient capabilities with no inheritable set), ...
// Each config is the generator's own output, changed only where a test must (the command, and
// `terminal: false` where no console socket is given).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Spec } from '../src/oci/runtime-spec.js';
import { makeBundle, type Bundle } from './helpers/bundle.js';
import { runtime, show, tempRoot, unique } from './helpers/run.js';

/** A busybox bundle whose config.json is what `runc spec` writes there, then `edit`ed. */
async function runcSpecBundle(t: TestContext, args: string[], edit: (spec: Spec) => void = () => {}): Promise<Bundle> {
  const bundle = await makeBundle({ args });
  t.after(bundle.cleanup);
  rmSync(bundle.config); // runc spec writes no config over another
  execFileSync('runc', ['spec'], { cwd: bundle.dir });
  const spec = JSON.parse(readFileSync(bundle.config, 'utf8')) as Spec;
  spec.process.args = args;
  spec.process.terminal = false;
  edit(spec);
  writeFileSync(bundle.config, JSON.stringify(spec, null, '\t') + '\n');
  return bundle;
}

/** The capability sets of /proc/self/status lines, as numbers. */
function capSets(status: string): Record<string, bigint> {
  return Object.fromEntries([...status.matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)].map(([, name, hex]) => [name, BigInt(`0x${hex}`)]));
}

test('runc spec: its ambient capabilities, with no inheritable set, are skipped with a warning as runc and crun skip them', async (t) => {
  const root = tempRoot(t);
  const bundle = await runcSpecBundle(t, ['sh', '-c', 'grep ^Cap /proc/self/status']);
  const r = runtime(root, 'run', '--bundle', bundle.dir, unique('runc-spec'));
  assert.equal(r.status, 0, show(r));
  const WANTED = (1n << 29n) | (1n << 5n) | (1n << 10n); // CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
  assert.deepEqual(capSets(r.stdout), { CapInh: 0n, CapPrm: WANTED, CapEff: WANTED, CapBnd: WANTED, CapAmb: 0n });
  assert.match(r.stderr, /warning: process\.capabilities\.ambient: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE not raised/);
});
