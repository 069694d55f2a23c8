// Running a plan: clone a child that executes it, answer its pauses, learn whether it reached exec.
import { closeSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';
import { native, sealedInit, type ExitStatus } from './native.js';
import { StepError, fromNative } from './errors.js';
import { encodePlan, type Plan, type Step, type SyncTag } from './plan.js';
import { describeStep, type StepPart } from './describe.js';

export type { ExitStatus } from './native.js';

/** The status pipe's messages (native/plan.h enum child_msg_type, struct child_msg). */
export const MSG_ERROR = 1;
export const MSG_SYNC = 2;
export const MSG_PID = 3;
export const MSG_READY = 4;
export const MSG_BYTES = 16;

export interface SpawnCallbacks {
  /** The child pauses at a `sync` step; it goes on when this resolves. A throw ends the child. */
  onSync?(tag: SyncTag, pid: number): Promise<void> | void;
}

/** How far the child got: it exec'd, or it is blocked on the exec FIFO waiting for `start`. */
export type Reached = 'exec' | 'ready';

/** A process started from a plan. `exited` settles once, with its status (null if not our child). */
export class PlanProcess {
  pid: number;
  pidfd: number;
  readonly exited: Promise<ExitStatus | null>;
  private resolveExit!: (s: ExitStatus | null) => void;
  private watching = false;

  constructor(pid: number, pidfd: number) {
    this.pid = pid;
    this.pidfd = pidfd;
    this.exited = new Promise((resolve) => (this.resolveExit = resolve));
  }

  /** Starts watching for the exit (keeps the event loop alive until it happens). */
  watch(): Promise<ExitStatus | null> {
    if (!this.watching) {
      this.watching = true;
      native.watchExit(this.pidfd, (status) => {
        closeSync(this.pidfd);
        this.resolveExit(status);
      });
    }
    return this.exited;
  }

  signal(sig: number): void {
    try {
      native.pidfdSendSignal(this.pidfd, sig);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ESRCH') throw fromNative(err);
    }
  }

  /** The child is now a grandchild we are told about: reap the intermediate, follow the new pid. */
  follow(pid: number): void {
    native.reap(this.pidfd);
    closeSync(this.pidfd);
    this.pid = pid;
    this.pidfd = native.pidfdOpen(pid);
  }

  /** Stops tracking without waiting (the process lives on, e.g. a created container). */
  release(): void {
    if (!this.watching) closeSync(this.pidfd);
  }
}

/**
 * Clones a child that runs `plan`. Resolves when the child has exec'd (or, with an `execFifo` step,
 * is waiting for `start`); rejects with a StepError naming the step when the child failed, after
 * reaping it. Whatever happens, no fd of ours stays open but the process's pidfd.
 */
export async function spawnPlan(
  plan: Plan,
  callbacks: SpawnCallbacks = {},
): Promise<{ process: PlanProcess; reached: Reached }> {
  let started;
  try {
    started = native.spawn(encodePlan(plan), sealedInit());
  } catch (err) {
    throw fromNative(err, 'clone');
  }
  const proc = new PlanProcess(started.pid, started.pidfd);
  const status = new Socket({ fd: started.statusFd, readable: true, writable: false });
  const syncFd = started.syncFd;
  let failure: unknown = null;
  let reached: Reached = 'exec';
  try {
    for await (const msg of messages(status)) {
      if (msg.type === MSG_ERROR) {
        // Step -1: the child could not exec berth-init, before the plan's first step.
        const action = msg.step === -1 ? 'exec berth-init (the executor of the plan)' : describeStep(plan.steps[msg.step], msg.value as StepPart);
        failure = new StepError(action, msg.err, msg.step);
        break;
      } else if (msg.type === MSG_SYNC) {
        try {
          await callbacks.onSync?.(msg.value as SyncTag, proc.pid);
        } catch (err) {
          failure = err;
          break;
        }
        writeSync(syncFd, 'g');
      } else if (msg.type === MSG_PID) {
        proc.follow(msg.value);
      } else if (msg.type === MSG_READY) {
        reached = 'ready';
        break;
      }
    }
  } finally {
    status.destroy();
    closeSync(syncFd);
  }
  if (failure !== null) {
    proc.signal(9);
    await proc.watch();
    throw failure;
  }
  return { process: proc, reached };
}

interface ChildMessage {
  type: number;
  step: number;
  err: number;
  value: number;
}

/** The child's 16-byte records, as they arrive; ends at EOF (the exec closed the pipe). */
async function* messages(stream: Socket): AsyncGenerator<ChildMessage> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    while (pending.length >= MSG_BYTES) {
      yield {
        type: pending.readInt32LE(0),
        step: pending.readInt32LE(4),
        err: pending.readInt32LE(8),
        value: pending.readInt32LE(12),
      };
      pending = pending.subarray(MSG_BYTES);
    }
  }
}

export type { Step };
