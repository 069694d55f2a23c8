// How the tour speaks: a chapter's title and what it is about, then for each step the shell
// command a person would type, what berth's own code did for it, the real output, and a few plain
// lines on what it shows. A line of "what it shows" is a claim checked against what happened: one
// that does not hold is printed as such (✗), and the tour ends with a non-zero status.

/** A line of "what it shows", with whether what happened bears it out. */
export interface Finding {
  holds: boolean;
  text: string;
}

/** `holds` says it: the line shown when it does, the other when it does not. */
export function finding(holds: boolean, text: string, otherwise: string): Finding {
  return { holds, text: holds ? text : otherwise };
}

/** A plain remark: not a claim that can fail. */
export function note(text: string): Finding {
  return { holds: true, text };
}

export interface StepReport {
  /** What berth's own code did: its functions, and the kernel steps of its plan where it has one. */
  did: string[];
  /** The real output, as it came. */
  output: string;
  /** Shown whole, however long (--explain's lines are the point of its step). */
  fullOutput?: boolean;
  shows: Finding[];
}

/** Lines of output shown at most, per step: the rest is counted, not printed. */
const MAX_OUTPUT_LINES = 40;

export class Narrator {
  /** Claims that did not hold, over the whole tour. */
  failures = 0;
  private steps = 0;

  constructor(
    private readonly out: NodeJS.WritableStream,
    /** Waits for Enter between steps (--step on a terminal); resolves at once otherwise. */
    private readonly pause: () => Promise<void>,
  ) {}

  print(text = ''): void {
    this.out.write(`${text}\n`);
  }

  chapter(number: number, total: number, title: string, about: string[]): void {
    const heading = `Chapter ${number} of ${total}: ${title}`;
    this.print();
    this.print(heading);
    this.print('='.repeat(heading.length));
    for (const line of about) this.print(line);
  }

  /** A chapter this host cannot show, and why. */
  skipped(reason: string): void {
    this.print();
    this.print(`(skipped: ${reason})`);
  }

  /**
   * One step: `commands` are printed first, then `run` makes the step happen and says what it did
   * and showed. Between two steps, --step waits for Enter.
   */
  async step(commands: string[], run: () => Promise<StepReport>): Promise<void> {
    if (this.steps++ > 0) await this.pause();
    this.print();
    for (const c of commands) this.print(`$ ${c}`);
    const report = await run();
    this.print('berth did:');
    for (const line of report.did) this.print(`    ${line}`);
    this.print('output:');
    const lines = report.output === '' ? ['(none)'] : report.output.replace(/\n$/, '').split('\n');
    const shown = lines.length > MAX_OUTPUT_LINES && !report.fullOutput ? [...lines.slice(0, MAX_OUTPUT_LINES), `... (${lines.length - MAX_OUTPUT_LINES} more lines)`] : lines;
    for (const line of shown) this.print(`  | ${line}`);
    this.print('what it shows:');
    for (const f of report.shows) {
      this.print(`  ${f.holds ? '»' : '✗'} ${f.text}`);
      if (!f.holds) this.failures++;
    }
  }

  /** A chapter stopped by an error: said, counted, and the tour goes on. */
  chapterFailed(message: string): void {
    this.failures++;
    this.print(`✗ the chapter stopped: ${message}`);
  }
}
