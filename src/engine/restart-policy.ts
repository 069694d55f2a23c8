// Docker's restart policies: what `--restart` accepts, and whether a container that just exited
// comes back. The monitor's exit command (`berth container cleanup`) asks this after each exit.
import { BerthError, type ErrorKind } from '../errors.js';

export interface RestartPolicy {
  name: 'no' | 'on-failure' | 'always' | 'unless-stopped';
  /** on-failure only: the most restarts; 0 for no limit. */
  maximumRetryCount: number;
}

export const NO_RESTART: RestartPolicy = { name: 'no', maximumRetryCount: 0 };

export class RestartPolicyError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'RestartPolicyError';
}

/** `no`, `always`, `unless-stopped`, `on-failure[:N]`. */
export function parseRestartPolicy(text: string): RestartPolicy {
  const [name, count, ...rest] = text.split(':');
  if (rest.length === 0 && (name === 'no' || name === 'always' || name === 'unless-stopped') && count === undefined) {
    return { name, maximumRetryCount: 0 };
  }
  if (name === 'on-failure' && rest.length === 0) {
    if (count === undefined) return { name, maximumRetryCount: 0 };
    if (/^\d+$/.test(count)) return { name, maximumRetryCount: Number(count) };
    throw new RestartPolicyError(`--restart ${text}: the retry count must be a non-negative integer`);
  }
  if (count !== undefined && name !== 'on-failure') throw new RestartPolicyError(`--restart ${text}: a maximum retry count is only valid with on-failure`);
  throw new RestartPolicyError(`--restart ${text}: use no, always, unless-stopped or on-failure[:N]`);
}

/** Whether a container comes back after an exit, as docker decides (a user's stop always wins). */
export function shouldRestart(policy: RestartPolicy, exit: { exitCode: number; restartCount: number; stoppedByUser: boolean }): boolean {
  if (exit.stoppedByUser) return false;
  switch (policy.name) {
    case 'no':
      return false;
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      return exit.exitCode !== 0 && (policy.maximumRetryCount === 0 || exit.restartCount < policy.maximumRetryCount);
  }
}
