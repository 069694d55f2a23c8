// A lock file between berth processes: created with O_EXCL ('wx'), holding `pid starttime token`.
// A waiter retries with a growing, jittered backoff. A lock whose holder is gone (its pid dead,
// or reused by another process: the start time differs) is stale and is broken: renamed away
// first, so that two waiters breaking it at once cannot both win, then checked to be the stale
// one before it is removed.
import { closeSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { BerthError, errnoCodeOf, isMissing } from '../errors.js';

/** A lock whose live holder did not let go in time. */
export class LockError extends BerthError {
  override readonly name = 'LockError';
}

export interface LockOptions {
  /** Give up after this long (default 60 s): a live holder that never lets go is an error, not a hang. */
  timeoutMs?: number;
}

/** /proc/PID/stat field 22, or null when the process is gone or a zombie. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' || fields[0] === 'X' ? null : (fields[19] ?? null);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return null; // no such process
  }
}

/** What a lock or lease file says of its holder; false when that process is gone. */
export function holderAlive(content: string): boolean {
  const [pid, start] = content.trim().split(' ');
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  const now = processStartTime(n);
  return now !== null && (start === undefined || start === now);
}

const ownStartTime = processStartTime(process.pid) ?? '0';

/** `pid starttime` of this process, as lock and lease files record it. */
export function holderId(): string {
  return `${process.pid} ${ownStartTime}`;
}

const sleepArray = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleepArray, 0, 0, ms);
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return null;
  }
}

/** Breaks the lock at `path` if it still holds `stale` (a dead holder's content). */
function breakStale(path: string, stale: string): void {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return; // someone else broke it, or its holder let go
  }
  if (readOrNull(aside) === stale) {
    unlinkSync(aside);
    return;
  }
  // Between our read and our rename, a live holder replaced it: put its lock back.
  try {
    linkSync(aside, path);
  } catch (err) {
    if (errnoCodeOf(err) !== 'EEXIST') throw err;
    // Another waiter took the free lock in that instant: the moved-aside holder will find its
    // lock gone when it releases (release tolerates that); both hold it for that moment.
  }
  unlinkSync(aside);
}

const EMPTY_LOCK_STALE_MS = 10_000;

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch (err) {
    if (!isMissing(err)) throw err;
    return 0; // let go meanwhile: a new holder's lock is young
  }
}

/**
 * One attempt at the lock at `path`: its release function, or undefined while a live holder has it
 * (a dead holder's lock is broken on the way).
 */
export function tryAcquireLock(path: string): (() => void) | undefined {
  const token = `${holderId()} ${randomBytes(8).toString('hex')}\n`;
  for (;;) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, token);
      } finally {
        closeSync(fd);
      }
      return () => {
        if (readOrNull(path) === token) unlinkSync(path);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = readOrNull(path);
    // An empty file is a holder between its open and its write (not stale, just early), unless it
    // has stayed empty for long: its holder died in between.
    if (held !== null && (held === '' ? ageMs(path) > EMPTY_LOCK_STALE_MS : !holderAlive(held))) {
      breakStale(path, held);
      continue;
    }
    if (held === null) continue; // let go between our open and our read
    return undefined;
  }
}

/** Who holds the lock at `path` (its pid), for messages. */
function holderPid(path: string): string {
  return readOrNull(path)?.split(' ')[0] || '?';
}

/**
 * Takes the lock at `path`, synchronously (the critical sections are short file rewrites, and a
 * synchronous lock cannot be re-entered by an interleaved async task of the same process).
 * Returns the release function.
 */
export function acquireLock(path: string, options: LockOptions = {}): () => void {
  const waiting = new Waiting(path, options);
  for (;;) {
    const next = waiting.attempt();
    if (typeof next === 'function') return next;
    sleepSync(next);
  }
}

/** The attempts at a lock: each its release, or how long to wait before the next (doubling, to 100 ms); past the timeout a LockError. */
class Waiting {
  private readonly timeoutMs: number;
  private readonly deadline: number;
  private delay = 2;

  constructor(
    private readonly path: string,
    options: LockOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.deadline = Date.now() + this.timeoutMs;
  }

  attempt(): (() => void) | number {
    const release = tryAcquireLock(this.path);
    if (release !== undefined) return release;
    if (Date.now() > this.deadline) throw new LockError(`timed out after ${this.timeoutMs} ms waiting for the lock ${this.path} (held by pid ${holderPid(this.path)})`);
    const wait = this.delay + Math.random() * this.delay;
    this.delay = Math.min(this.delay * 2, 100);
    return wait;
  }
}

/** acquireLock waiting with timers, so that another caller of this process holding the lock meanwhile can finish. */
async function acquireLockAsync(path: string, options: LockOptions = {}): Promise<() => void> {
  const waiting = new Waiting(path, options);
  for (;;) {
    const next = waiting.attempt();
    if (typeof next === 'function') return next;
    await new Promise((resolve) => setTimeout(resolve, next));
  }
}

/** Per lock path, the last caller of this process in line for it (withLockAsync). */
const queues = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding the lock, in a process that serves many callers at once (the API service):
 * its callers take turns in a queue per path first, then the lock file settles it with other
 * processes, waited for with timers so that nothing else of this process stops meanwhile.
 */
export async function withLockAsync<T>(path: string, fn: () => Promise<T> | T, options?: LockOptions): Promise<T> {
  const before = queues.get(path) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const turn = before.then(() => mine);
  queues.set(path, turn);
  await before;
  try {
    const release = await acquireLockAsync(path, options);
    try {
      return await fn();
    } finally {
      release();
    }
  } finally {
    done();
    if (queues.get(path) === turn) queues.delete(path);
  }
}

/** Runs `fn` holding the lock. */
export function withLock<T>(path: string, fn: () => T, options?: LockOptions): T {
  const release = acquireLock(path, options);
  try {
    return fn();
  } finally {
    release();
  }
}
