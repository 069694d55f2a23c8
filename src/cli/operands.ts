// docker's way with a command of many operands (rm, stop, volume rm...): each done in turn, its
// name printed when done, a failure said on stderr without stopping the others, and exit 1 when
// any failed.
import { errorMessageOf } from '../errors.js';
import { UsageError } from './args.js';

export interface EachOptions {
  /** For the error when there is none: `rm: at least one container is required`. */
  verb: string;
  noun: string;
  /** Print each operand once done (default); off when the operation prints its own answer. */
  echo?: boolean;
}

/** `fn` for each operand; `fn` returning 'skip' is done without its name printed (volume rm -f of a missing one). */
export async function eachOperand(operands: string[], opts: EachOptions, fn: (operand: string) => Promise<void | 'skip'>): Promise<number> {
  if (operands.length === 0) throw new UsageError(`${opts.verb}: at least one ${opts.noun} is required`);
  let failed = false;
  for (const operand of operands) {
    try {
      const done = await fn(operand);
      if ((opts.echo ?? true) && done !== 'skip') process.stdout.write(`${operand}\n`);
    } catch (err) {
      process.stderr.write(`berth: ${errorMessageOf(err)}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
