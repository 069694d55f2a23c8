// Chapter 7: all of it in one command. `berth run --explain` prints every step of a container's
// start as the shell line a person would type, before it happens: the chapters, in order.
import { finding, note } from '../narrator.js';
import type { Chapter } from '../chapter.js';
import type { RunRequest } from '../session.js';

/** The chapters' steps, as --explain writes them, in the order a start takes them. */
const EXPECTED: [string, RegExp][] = [
  ['the cgroup (chapter 6)', /^mkdir -p \/sys\/fs\/cgroup\//],
  ['the namespaces (chapter 3)', /^unshare /],
  ['the overlay (chapter 5)', /^mount -t overlay /],
  ['pivot_root (chapter 4)', /pivot_root \. \./],
  ['the hostname (chapter 3)', /^hostname /],
  ['the program', /^exec /],
];

export const explainChapter: Chapter = {
  name: 'explain',
  title: 'all of it in one command',
  about: ['`berth run --explain` prints each step of a start before it happens, as the shell line a person', 'would type: every chapter of this tour, in the order a container needs them.'],
  async run({ session, narrator }) {
    const req: RunRequest = { command: ['sh', '-c', 'echo "hello from $(hostname)"'] };
    const command = session.runCommand(req).replace(/^berth run /, 'berth run --explain ');
    await narrator.step([command], async () => {
      const run = await session.run(req);
      const at = EXPECTED.map(([, pattern]) => run.explain.findIndex((l) => pattern.test(l)));
      const missing = EXPECTED.filter((_, i) => at[i] < 0).map(([what]) => what);
      const inOrder = at.every((v, i) => i === 0 || v > at[i - 1]);
      return {
        did: ['Engine.create, then Engine.runForeground with an explain callback: the cgroup\'s writes (renderCgroupOps) and the plan (renderPlan), printed before they are made'],
        output: `${run.explain.join('\n')}\n${run.output}`,
        fullOutput: true,
        shows: [
          finding(missing.length === 0 && inOrder, `In order: ${EXPECTED.map(([what]) => what).join(', then ')}.`, missing.length ? `--explain has no line for ${missing.join(', ')}` : '--explain lists the steps out of order'),
          note('The plan is plain data, made in TypeScript; berth-init, a small static C program, only makes the syscalls, one step at a time.'),
        ],
      };
    });
  },
};
