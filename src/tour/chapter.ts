// A chapter of the tour: a title, a few lines on what it is about, why it cannot run on this host
// (if so), and its steps.
import type { Narrator } from './narrator.js';
import { shortId, type ContainerRun, type TourSession } from './session.js';

export interface TourContext {
  session: TourSession;
  narrator: Narrator;
}

export interface Chapter {
  /** What `berth tour NAME` calls it. */
  name: string;
  title: string;
  about: string[];
  /** Why this host cannot run it, or null. */
  unavailable?: () => string | null;
  run(ctx: TourContext): Promise<void>;
}

/**
 * "berth did" for a container's run: the engine's calls, then the lines of its --explain output
 * that this step is about (the container's id as $ID, to keep them short).
 */
export function didRun(run: ContainerRun, pick: (line: string) => boolean, calls = 'Engine.create, then Engine.runForeground (Runtime.run as a library)'): string[] {
  const id = run.record.id;
  const lines = run.explain.filter(pick).map((l) => l.replaceAll(id, '$ID'));
  return [`${calls}: container ${shortId(run.record)}${run.record.autoRemove ? ', removed at its exit (Engine.remove)' : ''}`, ...(lines.length ? [`of its plan (--explain), with ID=${id}:`, ...lines.map((l) => `  ${l}`)] : [])];
}

/** A line picker for didRun: lines matching any of `patterns`. */
export function matching(...patterns: RegExp[]): (line: string) => boolean {
  return (line) => patterns.some((p) => p.test(line));
}

/** What a shell prints for an exit status: `exit status 137 (killed by SIGKILL)`. */
export function exitText(code: number): string {
  return code > 128 && code < 160 ? `exit status ${code} (128 + signal ${code - 128})` : `exit status ${code}`;
}
