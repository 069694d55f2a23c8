// Test bundles: Debian's static busybox as the rootfs (scripts/busybox-bundle.sh, run once per test
// process into a template), copied for each test, with the config.json the test asks for and,
// when asked, the static probe (test/probe/probe.c) as /bin/probe.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Spec } from '../../src/oci/runtime-spec.js';
import { hostMountsUnder, processesRootedAt } from './run.js';

export { runtime } from './run.js';

/** The project root: this file runs from dist/test/helpers/. */
const PROJECT = fileURLToPath(new URL('../../../', import.meta.url));
const BUNDLE_SCRIPT = join(PROJECT, 'scripts/busybox-bundle.sh');
const PROBE_SOURCE = join(PROJECT, 'test/probe/probe.c');

let template: string | undefined;
let probe: string | undefined;

/** A directory removed when this test process exits. */
function processTempDir(prefix: string): string {
  const dir = mkdtempSync(prefix);
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The busybox bundle every test bundle is copied from, built on first use. */
function templateBundle(): string {
  if (template === undefined) {
    const dir = join(processTempDir('/tmp/berth-test-template-'), 'bundle');
    execFileSync(BUNDLE_SCRIPT, [dir], { stdio: ['ignore', 'ignore', 'pipe'] });
    template = dir;
  }
  return template;
}

/** test/probe/probe.c, compiled once per test process (static: the rootfs has no libc). */
export function probeBinary(): string {
  if (probe === undefined) {
    const out = join(processTempDir('/tmp/berth-test-probe-'), 'probe');
    execFileSync('gcc', ['-static', '-O2', '-o', out, PROBE_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    probe = out;
  }
  return probe;
}

export interface Bundle {
  /** The bundle directory (absolute). */
  dir: string;
  /** Its rootfs (absolute). */
  rootfs: string;
  config: string;
  /** Removes the bundle; refuses while anything is mounted under it (rm would walk into the mount). */
  cleanup(): void;
}

export interface BundleOptions {
  /** process.args */
  args: string[];
  /** Changes to the default spec (`berth-runtime spec`), made before config.json is written. */
  edit?: (spec: Spec) => void;
  /** Put the probe in the rootfs as /bin/probe. */
  probe?: boolean;
  /** Changes to the rootfs (symlinks, files), made before config.json is written. */
  setup?: (rootfs: string) => void;
}

export async function makeBundle(opts: BundleOptions): Promise<Bundle> {
  const source = templateBundle();
  const dir = mkdtempSync('/tmp/berth-test-bundle-');
  const rootfs = join(dir, 'rootfs');
  execFileSync('cp', ['-a', join(source, 'rootfs'), rootfs]);
  if (opts.probe) copyFileSync(probeBinary(), join(rootfs, 'bin/probe'));
  opts.setup?.(rootfs);
  const spec = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as Spec;
  spec.process.args = opts.args;
  opts.edit?.(spec);
  const config = join(dir, 'config.json');
  writeFileSync(config, JSON.stringify(spec, null, '\t') + '\n');
  return {
    dir,
    rootfs,
    config,
    cleanup() {
      const mounts = hostMountsUnder(dir);
      if (mounts.length) throw new Error(`not removing ${dir}: mounts under it on the host:\n${mounts.join('\n')}`);
      // A container of this bundle still running is a leak the test missed: end it, then say so.
      const stray = processesRootedAt(rootfs);
      for (const pid of stray) process.kill(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      if (stray.length) throw new Error(`processes left running in ${rootfs}: ${stray.join(', ')} (killed)`);
    },
  };
}

/** Edits an existing bundle's config.json. */
export function editConfig(bundle: Bundle, edit: (spec: Spec) => void): void {
  const spec = JSON.parse(readFileSync(bundle.config, 'utf8')) as Spec;
  edit(spec);
  writeFileSync(bundle.config, JSON.stringify(spec, null, '\t') + '\n');
}

/** Adds capabilities to the bounding, effective and permitted sets. */
export function addCapabilities(spec: Spec, ...caps: string[]): void {
  const sets = (spec.process.capabilities ??= {});
  for (const set of ['bounding', 'effective', 'permitted'] as const) sets[set] = [...(sets[set] ?? []), ...caps];
}

/** A read-write bind mount of a host directory into the container. */
export function bindMount(spec: Spec, source: string, destination: string): void {
  (spec.mounts ??= []).push({ destination, type: 'bind', source, options: ['rbind', 'rw'] });
}
