// Chapter 4: pivot_root. In its own mount namespace the container's rootfs becomes the root mount
// and the old root (the host's whole tree) is detached: its table of mounts lists only what was
// mounted for it, and "/.." is "/" itself.
import { readFileSync } from 'node:fs';
import { finding } from '../narrator.js';
import { didRun, matching, type Chapter } from '../chapter.js';
import type { RunRequest } from '../session.js';
import type { Spec } from '../../oci/runtime-spec.js';

/** Mount points of a mountinfo table (field 5, octal escapes decoded). */
function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .filter((l) => / - /.test(l))
    .map((l) => l.split(' ')[4].replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))));
}

/** Where config.json has the runtime mount something: its rootfs, its mounts, masked and read-only paths (and the cgroup hierarchies under /sys/fs/cgroup). */
function madeForContainer(spec: Spec, point: string): boolean {
  const points = new Set(['/', ...(spec.mounts ?? []).map((m) => m.destination), ...(spec.linux?.maskedPaths ?? []), ...(spec.linux?.readonlyPaths ?? [])]);
  return points.has(point) || point.startsWith('/sys/fs/cgroup/');
}

/** Host mount points worth naming as examples (not the tooling of one machine). */
const WELL_KNOWN = /^\/(run|boot|home|var|tmp|srv)(\/|$)/;

export const pivotRootChapter: Chapter = {
  name: 'pivot_root',
  title: 'pivot_root',
  about: [
    'In a mount namespace of its own, the runtime mounts the rootfs, makes it the root mount with',
    'pivot_root(2), and detaches the old root: the host\'s tree is no longer anywhere in the container\'s.',
  ],
  async run({ session, narrator }) {
    const req: RunRequest = { command: ['sh', '-c', 'cat /proc/self/mountinfo; ls -di / /..'] };
    await narrator.step([session.runCommand(req)], async () => {
      const run = await session.run(req);
      const [table, inodes = ''] = run.output.split(/\n(?=\s*\d+ \/\n)/);
      const inside = mountPoints(table);
      const foreign = inside.filter((p) => !madeForContainer(run.spec, p));
      const hostMounts = mountPoints(readFileSync('/proc/self/mountinfo', 'utf8'));
      const examples = [...new Set(hostMounts)].filter((p) => !madeForContainer(run.spec, p) && WELL_KNOWN.test(p)).slice(0, 3);
      const [root, parent] = [...inodes.matchAll(/^\s*(\d+) (\/\S*)$/gm)].map((m) => m[1]);
      return {
        did: didRun(run, matching(/^mount --make-rslave/, /pivot_root/)),
        output: run.output,
        shows: [
          finding(inside.length > 0 && foreign.length === 0, `Each of its ${inside.length} mounts was made for it, from its config.json: / (the overlay), /proc, /dev, /sys... None of the host's ${hostMounts.length}${examples.length ? `, such as ${examples.join(', ')}` : ''}.`, `mounts not made for the container: ${foreign.join(', ')}`),
          finding(root !== undefined && root === parent, `"/.." is "/" (inode ${root} both): there is nothing above the container's root to climb to, which is why chapter 2's escape stayed inside.`, `"/" and "/.." differ: ${inodes.trim()}`),
        ],
      };
    });
  },
};
