// A test hook loaded with `node --import` into a `berth` process: it kills the process with
// SIGKILL just before its Nth step, a step being a call of a filesystem function that changes
// something (or opens a file) or that starts a process. berth's code is not changed for it: the
// functions of node:fs and node:child_process are wrapped, and syncBuiltinESMExports() makes the
// bundle's `import { mkdirSync } from 'node:fs'` see the wrapped ones.
//   BERTH_CRASH_AT=N      kill before step N (0 or unset: never)
//   BERTH_CRASH_STEPS=F   append each step, `N function argument`, to the file F
// Both variables and NODE_OPTIONS are removed from the environment at once, so that the processes
// berth starts (conmon, berth-runtime, the exit command) run without the hook.
import childProcess from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const crashAt = Number(process.env.BERTH_CRASH_AT ?? 0);
const stepsFile = process.env.BERTH_CRASH_STEPS;
delete process.env.BERTH_CRASH_AT;
delete process.env.BERTH_CRASH_STEPS;
delete process.env.NODE_OPTIONS;

const FS_STEPS = ['mkdirSync', 'mkdtempSync', 'writeFileSync', 'appendFileSync', 'renameSync', 'openSync', 'writeSync', 'rmSync', 'rmdirSync', 'unlinkSync', 'symlinkSync', 'linkSync', 'copyFileSync', 'chmodSync', 'chownSync'] as const;
const PROCESS_STEPS = ['spawn', 'spawnSync', 'execFileSync'] as const;

const appendStep = fs.appendFileSync;
let step = 0;
/** Inside a wrapped call: node:fs calls its own exports (writeFileSync → openSync), which are not steps of berth's. */
let inside = false;

function wrap(target: Record<string, unknown>, name: string): void {
  const original = target[name] as (...args: unknown[]) => unknown;
  target[name] = function (this: unknown, ...args: unknown[]) {
    if (inside) return original.apply(this, args);
    inside = true;
    try {
      step += 1;
      if (stepsFile) appendStep(stepsFile, `${step} ${name} ${String(args[0]).slice(0, 200)}\n`);
      if (step === crashAt) process.kill(process.pid, 'SIGKILL');
      return original.apply(this, args);
    } finally {
      inside = false;
    }
  };
}

for (const name of FS_STEPS) wrap(fs as unknown as Record<string, unknown>, name);
for (const name of PROCESS_STEPS) wrap(childProcess as unknown as Record<string, unknown>, name);
syncBuiltinESMExports();
