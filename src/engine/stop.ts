// Signals and pauses for a running container, and waiting for its end: stop, kill, restart,
// pause, unpause, wait. The exit itself is recorded by lifecycle.ts's settle.
import { parseSignal } from '../runtime/processes.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { monitorPaths, sleep, type EngineContext } from './context.js';
import { recordContainerEvent } from './events.js';
import { addWaiter, hasLiveWaiter } from './exit-waiters.js';
import { enter, settle, settled, waitProcessGone } from './lifecycle.js';
import { readExitFile, removeExitFile } from './monitor.js';
import { startContainer } from './start.js';

/** docker stop's default grace period, seconds. */
export const DEFAULT_STOP_TIMEOUT = 10;

/** A container's record, with its exit settled if its process is gone. */
export async function inspectContainer(ctx: EngineContext, ref: string): Promise<ContainerRecord> {
  return settled(ctx, ref, ctx.containers.find(ref).id);
}

/**
 * `berth stop`: the image's stop signal (SIGTERM by default), then after `timeoutSec` SIGKILL to
 * every process of the container. Resolves once the exit is recorded.
 */
export async function stopContainer(ctx: EngineContext, ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
  const { id } = ctx.containers.find(ref);
  const record = await ctx.containers.locked(id, async (r) => {
    const current = await settle(ctx, r);
    if (!current || (current.state.status !== 'running' && current.state.status !== 'paused')) return null;
    current.state.stoppedByUser = true;
    ctx.containers.save(current);
    return current;
  });
  if (!record) return settled(ctx, ref, id);
  const signal = parseSignal(record.stopSignal ?? 'SIGTERM');
  try {
    recordContainerEvent(ctx.root, record, 'kill', { signal: String(signal) });
    await ctx.runtime.kill(id, signal);
    if (record.state.status === 'paused') await ctx.runtime.resume(id); // a frozen process cannot act on its signal
  } catch {
    // It exited meanwhile: the runtime finds nothing to signal, and the exit is settled below.
  }
  if (!(await waitProcessGone(ctx, id, timeoutSec * 1000))) {
    try {
      recordContainerEvent(ctx.root, record, 'kill', { signal: '9' });
      await ctx.runtime.kill(id, 9, true);
    } catch {
      // It exited meanwhile, as above.
    }
    await waitProcessGone(ctx, id, 10_000);
  }
  const stopped = await settled(ctx, ref, id);
  recordContainerEvent(ctx.root, record, 'stop');
  return stopped;
}

/** `berth kill -s SIG`. A terminating signal counts as a user's stop for restart policies, as docker's. */
export async function killContainer(ctx: EngineContext, ref: string, signalText = 'SIGKILL'): Promise<void> {
  const signal = parseSignal(signalText);
  const record = await inspectContainer(ctx, ref);
  if (record.state.status !== 'running' && record.state.status !== 'paused') throw new ContainerStoreError(`cannot kill container ${record.name}: it is not running`);
  if ([1, 2, 3, 9, 15].includes(signal)) {
    await ctx.containers.locked(record.id, async (r) => {
      r.state.stoppedByUser = true;
      ctx.containers.save(r);
    });
  }
  recordContainerEvent(ctx.root, record, 'kill', { signal: String(signal) });
  await ctx.runtime.kill(record.id, signal);
}

export async function restartContainer(ctx: EngineContext, ref: string, timeoutSec = DEFAULT_STOP_TIMEOUT): Promise<ContainerRecord> {
  await stopContainer(ctx, ref, timeoutSec);
  const started = await startContainer(ctx, ref);
  recordContainerEvent(ctx.root, started, 'restart');
  return started;
}

/** running ⇄ paused: the cgroup frozen or thawed, under the container's lock. */
export async function pauseContainer(ctx: EngineContext, ref: string, pause: boolean): Promise<void> {
  const { id } = ctx.containers.find(ref);
  const [from, verb] = pause ? (['running', 'pause'] as const) : (['paused', 'unpause'] as const);
  await ctx.containers.locked(id, async (r) => {
    const record = await settle(ctx, r);
    if (!record || record.state.status !== from) throw new ContainerStoreError(`cannot ${verb} container ${ref}: it is not ${pause ? 'running' : 'paused'}`);
    if (pause) await ctx.runtime.pause(id);
    else await ctx.runtime.resume(id);
    enter(ctx, record, { ...record.state, status: pause ? 'paused' : 'running' });
  });
}

/**
 * A waiter for the container's exit status, registered now: an attached `run` registers before
 * the container starts, so that a --rm container removed at its exit still leaves it the status.
 */
export function watchExit(ctx: EngineContext, id: string): { wait: () => Promise<number>; release: () => void } {
  const paths = monitorPaths(ctx, id);
  const unregister = addWaiter(paths.exitDir, id);
  const release = () => {
    unregister();
    if (!ctx.containers.tryLoad(id) && !hasLiveWaiter(paths.exitDir, id)) removeExitFile(paths, id);
  };
  const wait = async () => {
    for (;;) {
      const record = await ctx.containers.locked(id, (r) => settle(ctx, r));
      if (!record) return readExitFile(paths, id) ?? 255;
      if (record.state.status === 'exited' || (record.state.status === 'created' && record.state.error)) return record.state.exitCode;
      await sleep(50);
    }
  };
  return { wait, release };
}

/** `berth wait`: its exit code once it has exited. */
export async function waitContainer(ctx: EngineContext, ref: string): Promise<number> {
  const watch = watchExit(ctx, ctx.containers.find(ref).id);
  try {
    return await watch.wait();
  } finally {
    watch.release();
  }
}
