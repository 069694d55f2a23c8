// Errors from the kernel, with what was being done: "mount proc on /proc: EPERM (operation not permitted)".
import { getSystemErrorMap } from 'node:util';
import { BerthError } from '../errors.js';

/** The errno's name and its text as the C library words it ("EPERM", "operation not permitted"). */
export function describeErrno(errno: number): { name: string; text: string } {
  const entry = getSystemErrorMap().get(-errno);
  return entry ? { name: entry[0], text: entry[1] } : { name: `errno ${errno}`, text: 'unknown error' };
}

export class KernelError extends BerthError {
  readonly errno: number;
  readonly code: string;
  /** What was being done, in words: "mount proc on /proc", "exec sh". */
  readonly action: string;

  constructor(action: string, errno: number) {
    const { name, text } = describeErrno(errno);
    super(`${action}: ${name} (${text})`);
    this.name = 'KernelError';
    this.errno = errno;
    this.code = name;
    this.action = action;
  }
}

/** A failure of one step of a plan in the child, named by the step. */
export class StepError extends KernelError {
  readonly stepIndex: number;

  constructor(action: string, errno: number, stepIndex: number) {
    super(action, errno);
    this.name = 'StepError';
    this.stepIndex = stepIndex;
  }
}

/** Wraps an error thrown by the addon (it carries errno and syscall) as a KernelError. */
export function fromNative(err: unknown, action?: string): unknown {
  const e = err as { errno?: number; syscall?: string; path?: string };
  if (typeof e?.errno !== 'number') return err;
  return new KernelError(action ?? [e.syscall, e.path].filter(Boolean).join(' '), e.errno);
}
