// berth's errors: one base class, a kind on every error, and the one table that says what each
// kind is to the front ends: docker's exit status to the CLI, docker's HTTP status to the Engine
// API. Every error class of berth derives from BerthError; its message is one line, worded for a
// user, naming what was wrong (a path, a field, a step, an errno name).

/**
 * The kinds, after Docker's errdefs: what a caller may do about the error. `exit` is what `docker`
 * exits with (125: the engine failed; 126: the container's program cannot be run; 127: it does not
 * exist), `http` what the Docker Engine API answers with.
 */
export const ERROR_KINDS = {
  /** Bad input: a flag, a field, a reference, an archive that is not what it must be. */
  'invalid-argument': { exit: 125, http: 400 },
  /** No container, image, network, volume, exec or path by that name. */
  'not-found': { exit: 125, http: 404 },
  /** The thing is in a state that forbids this: running, in use, a name taken, a port held. */
  conflict: { exit: 125, http: 409 },
  /** A registry refused the credentials (or asked for some). */
  unauthorized: { exit: 125, http: 401 },
  /** Something berth does not do (yet), refused by name rather than done wrong. */
  'not-implemented': { exit: 125, http: 501 },
  /** The container's program exists but cannot be executed (a shell's 126). */
  'cannot-execute': { exit: 126, http: 400 },
  /** The container's program does not exist (a shell's 127). */
  'command-not-found': { exit: 127, http: 400 },
  /** The host or berth failed: a syscall, a tool, a store that is not as it must be. */
  system: { exit: 125, http: 500 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorKind = keyof typeof ERROR_KINDS;

export interface BerthErrorOptions {
  /** The kind of this error, when not its class's. */
  kind?: ErrorKind;
  cause?: unknown;
}

export class BerthError extends Error {
  /** The kind of errors of this class unless the thrower says otherwise; subclasses set their own. */
  static readonly kind: ErrorKind = 'system';
  readonly kind: ErrorKind;

  constructor(message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = options.kind ?? (new.target as typeof BerthError).kind;
  }

  /** The status `berth` exits with, as `docker` would. */
  get exitStatus(): number {
    return ERROR_KINDS[this.kind].exit;
  }

  /** The status the Engine API answers with, as dockerd would. */
  get httpStatus(): number {
    return ERROR_KINDS[this.kind].http;
  }
}
// On the prototype, not a field: a subclass names itself with a field or a getter of its own.
BerthError.prototype.name = 'BerthError';

/** The kind of any thrown value: an error that is not berth's is the system's. */
export function errorKindOf(err: unknown): ErrorKind {
  return err instanceof BerthError ? err.kind : 'system';
}

/** docker's exit status for a failure of a command. */
export function exitStatusOf(err: unknown): number {
  return ERROR_KINDS[errorKindOf(err)].exit;
}

/** The Engine API's status for a failed request. */
export function httpStatusOf(err: unknown): number {
  return ERROR_KINDS[errorKindOf(err)].http;
}

/** The first line of a thrown value's message: what a front end shows. */
export function errorMessageOf(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

/** The errno name (`ENOENT`) of an error from node:fs, the addon or a KernelError; undefined for others. */
export function errnoCodeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Whether a node:fs error says the path is not there (ENOENT; ENOTDIR: a component on the way is not a directory). */
export function isMissing(err: unknown): boolean {
  const code = errnoCodeOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
