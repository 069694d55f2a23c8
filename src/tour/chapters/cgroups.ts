// Chapter 6: cgroups. The host's layout (v1, v2 or hybrid) as `mount | grep cgroup` shows it; a
// CPU quota set and the busy process's share of one CPU measured from the cgroup's own usage; a
// memory limit and the OOM kill it brings.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { detectCgroupLayout, type CgroupLayout } from '../../cgroups/detect.js';
import { finding, note, type Finding } from '../narrator.js';
import { didRun, exitText, matching, type Chapter } from '../chapter.js';
import type { TourSession, RunRequest } from '../session.js';

const MiB = 1024 * 1024;
const QUOTA = 30_000;
const PERIOD = 100_000;
/** How long the share is measured over, and how much it may miss 30 % by before a window is measured again. */
const WINDOW_MS = 2_000;
const TOLERANCE = 0.05;
const MAX_WINDOWS = 3;
const MEMORY_LIMIT = 32 * MiB;

/** Where `controller`'s files are: the cgroup2 mount on a unified host, else its v1 hierarchy. Null when it is not there. */
export function controllerMount(layout: CgroupLayout, controller: string): string | null {
  if (layout.mode === 'unified') {
    const file = join(layout.v2 as string, 'cgroup.controllers');
    return existsSync(file) && readFileSync(file, 'utf8').trim().split(/\s+/).includes(controller) ? (layout.v2 as string) : null;
  }
  return layout.v1.find((h) => h.controllers.includes(controller))?.mountpoint ?? null;
}

/** `mount | grep cgroup`, from /proc/self/mounts. */
function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2] === 'cgroup' || f[2] === 'cgroup2')
    .map(([device, point, type, options]) => `${device} on ${point} type ${type} (${options})`);
}

/** What the layout means, in a few lines. */
export function explainLayout(layout: CgroupLayout): Finding[] {
  const v1 = layout.v1.map((h) => h.controllers.join(',')).join(' ');
  switch (layout.mode) {
    case 'unified':
      return [
        note(`cgroup v2 ("unified"): one tree at ${layout.v2}, every controller in it (cgroup.controllers: ${readFileSync(join(layout.v2 as string, 'cgroup.controllers'), 'utf8').trim()}).`),
        note('A cgroup\'s children get a controller when it is written to its cgroup.subtree_control; berth uses the v2 driver here.'),
      ];
    case 'hybrid':
      return [
        note(`hybrid: cgroup v1 hierarchies, one per controller or pair (${v1}), each a tree of its own, and a cgroup2 tree beside them at ${layout.v2} with no controller in it.`),
        note('berth uses the v1 driver here: limits go to each v1 hierarchy\'s files, and the process is placed in every tree, the cgroup2 one too.'),
      ];
    case 'legacy':
      return [note(`cgroup v1 only: one hierarchy per controller or pair (${v1}); berth uses the v1 driver.`)];
  }
}

/** The quota's files as the kernel shows them: v2's cpu.max, or v1's two cfs files. */
function readQuota(layout: CgroupLayout, cgroupPath: string): { command: string; output: string; holds: boolean } {
  const mount = controllerMount(layout, 'cpu') as string;
  const dir = join(mount, cgroupPath);
  if (layout.mode === 'unified') {
    const value = readFileSync(join(dir, 'cpu.max'), 'utf8').trim();
    return { command: `cat ${join(dir, 'cpu.max')}`, output: value, holds: value === `${QUOTA} ${PERIOD}` };
  }
  const quota = readFileSync(join(dir, 'cpu.cfs_quota_us'), 'utf8').trim();
  const period = readFileSync(join(dir, 'cpu.cfs_period_us'), 'utf8').trim();
  return { command: `cat ${join(dir, 'cpu.cfs_quota_us')} ${join(dir, 'cpu.cfs_period_us')}`, output: `${quota}\n${period}`, holds: quota === String(QUOTA) && period === String(PERIOD) };
}

interface Window {
  share: number;
  seconds: number;
  throttled?: number;
}

/** The container's CPU time over a window of wall time, from its cgroup's usage (CgroupDriver.stats). */
async function measureShare(session: TourSession, id: string): Promise<Window> {
  const cgroup = session.engine.cgroup(id);
  const sample = () => ({ at: performance.now(), stats: cgroup.stats().cpu });
  const a = sample();
  await session.sleep(WINDOW_MS);
  const b = sample();
  const seconds = (b.at - a.at) / 1000;
  const throttled = a.stats.nrThrottled === undefined || b.stats.nrThrottled === undefined ? undefined : b.stats.nrThrottled - a.stats.nrThrottled;
  return { share: (b.stats.usageUsec - a.stats.usageUsec) / 1e6 / seconds, seconds, throttled };
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

export const cgroupsChapter: Chapter = {
  name: 'cgroups',
  title: 'cgroups',
  about: [
    'Namespaces decide what a process sees; cgroups decide how much it may use: CPU time, memory,',
    'processes... A cgroup is a directory; its limits are files; a process joins by writing its pid.',
  ],
  unavailable: () => {
    const layout = detectCgroupLayout();
    if (layout.v1.length === 0 && layout.v2 === null) return 'no cgroup filesystem is mounted';
    return controllerMount(layout, 'cpu') === null && controllerMount(layout, 'memory') === null ? 'neither the cpu nor the memory controller is available' : null;
  },
  async run({ session, narrator }) {
    const layout = detectCgroupLayout();
    await narrator.step(['mount | grep cgroup'], async () => ({
      did: [`detectCgroupLayout: /proc/self/mountinfo read, ${layout.v1.length} v1 hierarchies, cgroup2 ${layout.v2 ? `at ${layout.v2}` : 'not mounted'}: "${layout.mode}"`],
      output: `${cgroupMounts().join('\n')}\n`,
      shows: explainLayout(layout),
    }));

    if (controllerMount(layout, 'cpu') === null) narrator.skipped('the cpu controller is not available on this host');
    else {
      let quota = { command: '', output: '', holds: false };
      const windows: Window[] = [];
      const cpuReq: RunRequest = {
        cpus: QUOTA / PERIOD,
        command: ['sh', '-c', 'while :; do :; done'],
        whileRunning: async ({ record }) => {
          quota = readQuota(layout, session.engine.cgroup(record.id).path);
          await session.sleep(500); // past the first period's burst
          // A window of a machine busy elsewhere may come out low; one that misses is measured again, and every window is shown.
          do windows.push(await measureShare(session, record.id));
          while (windows.length < MAX_WINDOWS && Math.abs(windows[windows.length - 1].share - QUOTA / PERIOD) > TOLERANCE);
          await session.kill(record.id);
        },
      };
      const cpuDir = join(controllerMount(layout, 'cpu') as string, 'berth', '$ID');
      const fileCommand = layout.mode === 'unified' ? `cat ${cpuDir}/cpu.max` : `cat ${cpuDir}/cpu.cfs_quota_us ${cpuDir}/cpu.cfs_period_us`;
      await narrator.step([session.runCommand(cpuReq), `${fileCommand}    # on the host, while it spins; then its CPU time over ${WINDOW_MS / 1000} s`], async () => {
        const run = await session.run(cpuReq);
        const last = windows[windows.length - 1];
        const measured = windows.map((w) => `${pct(w.share)} of one CPU over ${w.seconds.toFixed(2)} s${w.throttled === undefined ? '' : `, throttled ${w.throttled} times`}`);
        return {
          did: [
            ...didRun(run, matching(/cpu\.max|cpu\.cfs_/), 'Engine.create (--cpus 0.3: quota 30000, period 100000), then Engine.runForeground'),
            `${quota.command.replaceAll(run.record.id, '$ID')}: the value read back; CgroupDriver.stats: the cgroup's CPU usage, read at the start and end of each window`,
            'then SIGKILL to every process of its cgroup (Runtime.kill)',
          ],
          output: `${run.output}-- on the host:\n${quota.output}\n${measured.join('\n')}\n`,
          shows: [
            finding(quota.holds, `The kernel holds the limit as ${layout.mode === 'unified' ? `cpu.max "${QUOTA} ${PERIOD}"` : `cpu.cfs_quota_us ${QUOTA} and cpu.cfs_period_us ${PERIOD}`}: ${QUOTA} µs of CPU time in every ${PERIOD} µs.`, `the quota files read ${quota.output.replace('\n', ' ')}`),
            finding(last !== undefined && Math.abs(last.share - QUOTA / PERIOD) <= TOLERANCE, `The loop would take a whole CPU; the quota held it to ${last ? pct(last.share) : '?'}: once its ${QUOTA / 1000} ms are used, it waits for the next period.`, `the busy loop used ${last ? pct(last.share) : 'nothing measurable'} of one CPU, not 30 % ± ${TOLERANCE * 100}`),
          ],
        };
      });
    }

    if (controllerMount(layout, 'memory') === null) narrator.skipped('the memory controller is not available on this host');
    else {
      const memReq: RunRequest = { memory: MEMORY_LIMIT, command: ['tail', '/dev/zero'] };
      await narrator.step([session.runCommand(memReq)], async () => {
        const run = await session.run(memReq);
        return {
          did: didRun(run, matching(/memory\.(max|swap\.max|limit_in_bytes|memsw\.limit_in_bytes)/), `Engine.create (--memory ${MEMORY_LIMIT / MiB}m; swap as much again, as docker's), then Engine.runForeground`),
          output: `${run.output}-- its end: ${exitText(run.exitCode)}, OOMKilled ${run.oomKilled}\n`,
          shows: [
            finding(run.oomKilled && run.exitCode === 137, `tail /dev/zero keeps one endless line in memory; at ${MEMORY_LIMIT / MiB} MiB the kernel's OOM killer killed it, inside its cgroup (137 = 128 + SIGKILL), and nothing else on the host.`, `no OOM kill: ${exitText(run.exitCode)}, OOMKilled ${run.oomKilled}`),
            note('The runtime read the cgroup\'s OOM count before removing it: that is where `berth inspect` gets OOMKilled.'),
          ],
        };
      });
    }
  },
};
