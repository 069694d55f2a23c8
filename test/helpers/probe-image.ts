// An engine test image: Debian's busybox (scripts/busybox-bundle.sh) with the probe
// (test/probe/probe.c) as /bin/probe, an empty /mnt and a test's own files, imported into a
// berth root under a reference. The image's tar is made once per set of files in a test process.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { probeBinary } from './bundle.js';
import { ok, PROJECT, type Berth } from './berth-cli.js';

const tars = new Map<string, string>();
let tarDir: string | undefined;

function imageTar(files: Record<string, string>): string {
  const key = JSON.stringify(Object.entries(files).sort());
  const known = tars.get(key);
  if (known) return known;
  if (tarDir === undefined) {
    const dir = mkdtempSync('/tmp/berth-probe-image-');
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    tarDir = dir;
  }
  const dir = join(tarDir, String(tars.size));
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  const rootfs = join(dir, 'bundle/rootfs');
  copyFileSync(probeBinary(), join(rootfs, 'bin/probe'));
  mkdirSync(join(rootfs, 'mnt'), { recursive: true });
  for (const [path, content] of Object.entries(files)) writeFileSync(join(rootfs, path), content);
  const tar = join(dir, 'rootfs.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', tar, '.']);
  rmSync(join(dir, 'bundle'), { recursive: true, force: true });
  tars.set(key, tar);
  return tar;
}

/** Debian's busybox with the probe as /bin/probe and `files` written into it, imported as `ref`. */
export function probeImage(_t: TestContext, berth: Berth, ref: string, files: Record<string, string> = {}): void {
  ok(berth('import', imageTar(files), ref));
}
