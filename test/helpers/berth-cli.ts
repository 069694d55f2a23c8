// berth's CLI as tests run it: a BERTH_ROOT of the test's own, the bundled executable, results
// with their exit status and output; and afterwards every container and volume of that root
// removed, no mount of it left, the root deleted.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

/** This file runs from dist/test/helpers/. */
export const BERTH = fileURLToPath(new URL('../../bin/berth.mjs', import.meta.url));
export const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));

export interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

export type Berth = (...args: string[]) => Result;

export interface BerthRoot {
  root: string;
  env: NodeJS.ProcessEnv;
  berth: Berth;
  berthIn: (input: Buffer | string, ...args: string[]) => Result;
  berthRaw: (...args: string[]) => Buffer;
}

/**
 * Where BERTH_ROOTs go: /tmp, or BERTH_TEST_TMP where /tmp cannot hold an overlay's upper dir (the
 * cgroup v2 guest's / is itself an overlay: scripts/test-v2.sh points this at a tmpfs).
 */
const TEST_TMP = process.env.BERTH_TEST_TMP ?? '/tmp';

export function berthRoot(t: TestContext, prefix = 'cli'): BerthRoot {
  const root = mkdtempSync(join(TEST_TMP, `berth-test-${prefix}-`));
  const env = launcherEnv({ ...process.env, BERTH_ROOT: root });
  const berthIn = (input: Buffer | string, ...args: string[]): Result => {
    const r = spawnSync(process.execPath, [BERTH, ...args], { env, input, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const berth = (...args: string[]) => berthIn('', ...args);
  const berthRaw = (...args: string[]): Buffer => execFileSync(process.execPath, [BERTH, ...args], { env, maxBuffer: 64 << 20 });
  t.after(() => {
    const ids = berth('ps', '-aq', '--no-trunc').stdout.split('\n').filter(Boolean);
    if (ids.length) berth('rm', '-f', '-v', ...ids);
    berth('volume', 'prune', '-a', '-f');
    assert.deepEqual(hostMountsMentioning(root), [], 'a mount was left behind');
    rmSync(root, { recursive: true, force: true });
  });
  return { root, env, berth, berthIn, berthRaw };
}

/** The environment as berth's launcher (dist/bin/berth) gives it to Node: NODE_EXTRA_CA_CERTS moved aside. */
export function launcherEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out = { ...env };
  if (out.NODE_EXTRA_CA_CERTS) out.BERTH_EXTRA_CA_CERTS = out.NODE_EXTRA_CA_CERTS;
  delete out.NODE_EXTRA_CA_CERTS;
  return out;
}

export function ok(r: Result): string {
  assert.equal(r.status, 0, `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

export function hostMountsMentioning(text: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(text));
}

/** The seed's first command: a flat rootfs tar, like `docker export` makes — here from busybox-static. */
export function busyboxRootfsTar(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-test-rootfs-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'bundle/rootfs/etc/motd'), 'from the image\n');
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', join(dir, 'bundle/rootfs'), '-cf', tar, '.']);
  return tar;
}
