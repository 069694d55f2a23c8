// Errors of the cgroup layer, on one line each:
//   linux.resources.cpu.period: must be positive                      (bad input, refused before any mkdir)
//   cgroup: write 30000 100000 to /sys/fs/cgroup/.../cpu.max: EINVAL (invalid argument)   (the kernel said no)
import { describeErrno } from '../kernel/errors.js';
import { BerthError } from '../errors.js';

export class CgroupError extends BerthError {
  override readonly name = 'CgroupError';
  /** JSON path of the refused field (`linux.resources.cpu.period`), when the fault is the input. */
  readonly field?: string;
  /** The cgroup file or directory the kernel refused, when the fault is the kernel's answer. */
  readonly path?: string;
  /** errno name (`EINVAL`) of the kernel's answer. */
  readonly code?: string;

  constructor(message: string, details: { field?: string; path?: string; code?: string; cause?: unknown } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.field = details.field;
    this.path = details.path;
    this.code = details.code;
  }
}

/** Bad input: `linux.resources.cpu.period: must be positive`. */
export function refuse(field: string, problem: string): CgroupError {
  return new CgroupError(`${field}: ${problem}`, { field });
}

/**
 * A failed file-system call on the cgroup tree: `cgroup: <action>: EINVAL (invalid argument)`,
 * with `hint` (what that errno means for this file) after it. `err` is what node:fs threw.
 */
export function kernelRefused(action: string, path: string, err: unknown, hint?: string): CgroupError {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.errno !== 'number') {
    const message = err instanceof Error ? err.message : String(err);
    return new CgroupError(`cgroup: ${action}: ${message}`, { path, cause: err });
  }
  const { name, text } = describeErrno(Math.abs(e.errno));
  return new CgroupError(`cgroup: ${action}: ${name} (${text})${hint ? `: ${hint}` : ''}`, { path, code: name, cause: err });
}
