// `berth tour [CHAPTER] [--step]`: the story of how a container is built, replayed live by berth
// itself on real containers, one chapter per step of the story. Each step prints the command a
// person would type, what berth's own code did for it, the real output, and what it shows.
import type { EngineService } from '../engine/service.js';
import type { Chapter } from './chapter.js';
import { cgroupsChapter } from './chapters/cgroups.js';
import { chrootChapter } from './chapters/chroot.js';
import { explainChapter } from './chapters/explain.js';
import { namespacesChapter } from './chapters/namespaces.js';
import { overlayfsChapter } from './chapters/overlayfs.js';
import { pivotRootChapter } from './chapters/pivot-root.js';
import { rootfsChapter } from './chapters/rootfs.js';
import { findBusyboxImage, IMPORT_COMMAND, importBusybox } from './image.js';
import { Narrator } from './narrator.js';
import { TourInterrupted, TourSession } from './session.js';
import { BerthError, type ErrorKind } from '../errors.js';

export const CHAPTERS: readonly Chapter[] = [rootfsChapter, chrootChapter, namespacesChapter, pivotRootChapter, overlayfsChapter, cgroupsChapter, explainChapter];

/** Exit status of a tour cut short by a signal, as a shell reports SIGINT. */
export const INTERRUPTED_STATUS = 130;

const INTERRUPTING_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export class TourUsageError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'TourUsageError';
}

/** The chapters `which` names (a number from 1, or a name); all of them when it is absent. */
export function selectChapters(which: string | undefined): Chapter[] {
  if (which === undefined) return [...CHAPTERS];
  const byNumber = /^\d+$/.test(which) ? CHAPTERS[Number(which) - 1] : undefined;
  const chapter = byNumber ?? CHAPTERS.find((c) => c.name === which);
  if (!chapter) throw new TourUsageError(`tour: no chapter "${which}": give 1-${CHAPTERS.length} or one of ${CHAPTERS.map((c) => c.name).join(', ')}`);
  return [chapter];
}

export interface TourOptions {
  chapters: Chapter[];
  /** Wait for Enter between steps (only on a terminal: without one, the tour runs straight through). */
  step: boolean;
  out?: NodeJS.WritableStream;
}

/** Resolves at the next line on stdin (Enter). */
function enterPressed(out: NodeJS.WritableStream): Promise<void> {
  out.write('[Enter: next step] ');
  return new Promise((resolve) => {
    const onData = () => {
      process.stdin.off('data', onData);
      process.stdin.pause();
      resolve();
    };
    process.stdin.on('data', onData);
    process.stdin.resume();
  });
}

/**
 * Runs the tour; its exit status: 0 when every claim held, 1 when one did not or a chapter
 * failed, 130 when interrupted. Whatever happens, the tour's containers are removed before it returns.
 */
export async function runTour(engine: EngineService, opts: TourOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  let session: TourSession | null = null;
  let interrupted = false;
  const interactive = opts.step && process.stdin.isTTY === true;
  const narrator = new Narrator(out, async () => {
    if (interactive && session) await session.interruptible(enterPressed(out));
  });
  // From here on a signal only marks the tour interrupted (and kills its running containers): the
  // tour then stops at its next step and removes what it made, a second Ctrl-C included.
  const onSignal = () => {
    interrupted = true;
    session?.interrupt();
  };
  for (const s of INTERRUPTING_SIGNALS) process.on(s, onSignal);
  let status: number;
  let problems: string[] = [];
  try {
    if (opts.step && !interactive) narrator.print('(--step: stdin is not a terminal, so the tour runs straight through)');
    let image = findBusyboxImage(engine.images);
    if (image === null) {
      narrator.print(`No busybox image in the store: importing Debian's busybox-static, as\n  ${IMPORT_COMMAND}`);
      await importBusybox(engine.images);
      image = findBusyboxImage(engine.images) as string;
    }
    narrator.print(`The tour runs its containers from ${image}, in ${engine.root}, each with --network none (networking is not part of this story).`);
    session = new TourSession(engine, image);
    if (interrupted) session.interrupt();
    await runChapters(session, narrator, opts.chapters);
    narrator.print();
    narrator.print(narrator.failures === 0 ? 'The end: every step showed what it says.' : `The end: ${narrator.failures} thing(s) did not go as the tour says (✗ above).`);
    status = narrator.failures === 0 ? 0 : 1;
  } catch (err) {
    if (!(err instanceof TourInterrupted) && !interrupted) throw err;
    narrator.print();
    narrator.print('Interrupted: removing what the tour made.');
    status = INTERRUPTED_STATUS;
  } finally {
    problems = session ? await session.cleanUp() : [];
    for (const s of INTERRUPTING_SIGNALS) process.off(s, onSignal);
    process.stdin.pause();
  }
  for (const p of problems) narrator.print(`✗ could not remove ${p}`);
  return problems.length > 0 && status === 0 ? 1 : status;
}

/** The chapters in order: one this host cannot run says why; one that fails says so; the tour goes on either way. */
async function runChapters(session: TourSession, narrator: Narrator, chapters: Chapter[]): Promise<void> {
  for (const chapter of chapters) {
    session.check();
    narrator.chapter(CHAPTERS.indexOf(chapter) + 1, CHAPTERS.length, chapter.title, chapter.about);
    const reason = chapter.unavailable?.() ?? null;
    if (reason !== null) {
      narrator.skipped(reason);
      continue;
    }
    try {
      await chapter.run({ session, narrator });
    } catch (err) {
      if (err instanceof TourInterrupted || session.interrupted) throw new TourInterrupted();
      narrator.chapterFailed(err instanceof Error ? err.message : String(err));
    }
  }
}
