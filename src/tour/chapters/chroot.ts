// Chapter 2: chroot, the first way to give a process an image's files as its "/", and the classic
// escape from it, run for real: a program in the container reads a file that exists only on the
// host. The same program, in a container whose root was pivoted, stays inside.
import { existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { builtFile } from '../../kernel/native.js';
import { finding, note } from '../narrator.js';
import { didRun, exitText, matching, type Chapter } from '../chapter.js';
import type { RunRequest } from '../session.js';

const ESCAPE_PROGRAM = 'berth-chroot-escape';

function escapeProgram(): string | null {
  try {
    return builtFile(ESCAPE_PROGRAM);
  } catch {
    // Not built: the chapter is then unavailable and says why (see `unavailable` below).
    return null;
  }
}

/** The escape program copied in through stdin (from build/Release/), run against a file that exists only on the host. */
function escapeRequest(isolation: 'default' | 'chroot', secretPath: string, program: string): RunRequest {
  return { isolation, command: ['sh', '-c', `cat > /escape && chmod 755 /escape && exec /escape /bin/cat ${secretPath}`], stdinFile: program };
}

export const chrootChapter: Chapter = {
  name: 'chroot',
  title: 'chroot, and the way out of it',
  about: [
    'chroot(2) changes the directory a process resolves "/" from, and nothing else. A process that',
    'may call chroot itself can climb back out: the classic escape, run here for real, and then',
    'the same program in a container whose root was pivoted (chapter 4) instead.',
  ],
  unavailable: () => (escapeProgram() === null ? `build/Release/${ESCAPE_PROGRAM} is not built (npm install builds it)` : null),
  async run({ session, narrator }) {
    const program = escapeProgram() as string;
    const shell = ['sh', '-c', 'ls /; echo "entries in /proc: $(ls /proc | wc -l)"'];
    await narrator.step([session.runCommand({ isolation: 'chroot', command: shell })], async () => {
      const run = await session.run({ isolation: 'chroot', command: shell });
      const procEntries = /entries in \/proc: (\d+)/.exec(run.output)?.[1];
      return {
        did: didRun(run, matching(/^mount -t overlay/, /chroot \.$/)),
        output: run.output,
        shows: [
          finding(/\bbin\b/.test(run.output) && run.exitCode === 0, 'The shell\'s "/" is the image\'s rootfs: an overlay the engine mounted on the host, entered with chroot.', `the shell did not list the image's files (${exitText(run.exitCode)})`),
          finding(procEntries === '0', '/proc is empty: with no mount namespace of its own, nothing can be mounted for it without mounting it on the host.', `/proc holds ${procEntries} entries`),
        ],
      };
    });

    const secret = { path: join(session.scratch, 'host-secret'), value: randomBytes(8).toString('hex') };
    writeFileSync(secret.path, `${secret.value}\n`);
    const underChroot = escapeRequest('chroot', secret.path, program);
    await narrator.step([`echo ${secret.value} > ${secret.path}    # on the host`, session.runCommand(underChroot)], async () => {
      const run = await session.run(underChroot);
      const levels = /cd \.\.\s+# (\d+) time/.exec(run.output)?.[1];
      return {
        did: didRun(run, matching(/chroot \.$/)),
        output: run.output,
        shows: [
          finding(run.output.includes(secret.value), `The container printed the host's file: it climbed ${levels} directories above its root, where chroot(".") made the host's "/" its own.`, `the escape did not reach the host (${exitText(run.exitCode)})`),
          note('It only needed CAP_SYS_CHROOT, which docker gives every container: chroot alone contains nothing.'),
        ],
      };
    });

    const underPivot = escapeRequest('default', secret.path, program);
    await narrator.step([session.runCommand(underPivot)], async () => {
      const run = await session.run(underPivot);
      return {
        did: didRun(run, matching(/pivot_root/)),
        output: run.output,
        shows: [
          finding(!run.output.includes(secret.value) && run.exitCode !== 0 && existsSync(secret.path), 'The same program stays inside: after pivot_root the old root is detached, "/.." is "/" itself, and the host\'s file is nowhere in the container\'s tree.', 'the escape reached the host through pivot_root'),
        ],
      };
    });
  },
};
