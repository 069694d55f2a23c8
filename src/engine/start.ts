// Running a container, the two ways: detached under its monitor (`start`, conmon, lifecycle.ts's
// startMonitored) or in the foreground of this process with the runtime as a library
// (`runForeground`, no monitor at all: the fastest path, for `berth run` without -d or -it).
import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { CgroupOp } from '../cgroups/driver.js';
import { holderId } from '../fs/lock.js';
import { native } from '../kernel/native.js';
import type { Plan } from '../kernel/plan.js';
import { renderRunPlan } from '../runtime/explain.js';
import { mountOverlay, renderOverlayMount } from '../storage/overlay.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { monitorPaths, overlayOptions, pathsOf, type EngineContext, type Explain } from './context.js';
import { enter, removeFiles, settle, startMonitored } from './lifecycle.js';
import { LogWriter } from './logs.js';

/** A foreground container's stdin (an fd), and where its output goes besides its log. */
export interface ForegroundIO {
  stdin?: number;
  stdout: Writable;
  stderr: Writable;
}

export interface StartOptions {
  /** Runs between the runtime's create and its start: an attach client connects there, so that it misses no output. */
  beforeStart?: (record: ContainerRecord) => Promise<void>;
  explain?: Explain;
}

/** Starts a container under its monitor and returns once its process runs (`start`, `run -d`). */
export async function startContainer(ctx: EngineContext, ref: string, opts: StartOptions = {}): Promise<ContainerRecord> {
  const { id } = ctx.containers.find(ref);
  const started = await ctx.containers.locked(id, async (record) => {
    const current = await settle(ctx, record);
    if (!current) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
    if (current.state.status === 'running' || current.state.status === 'paused') return current; // docker: starting a running container is a no-op
    current.restartCount = 0;
    await startMonitored(ctx, current, opts);
    return current;
  });
  if (!started) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
  return started;
}

/**
 * Runs a created container in the foreground of this process: its exit code (docker's: 126/127
 * for a program that cannot be run), recorded; with --rm the container is removed after. `io`
 * gives it another stdin than ours and sends its output elsewhere than ours (to its log too).
 */
export async function runForeground(ctx: EngineContext, record: ContainerRecord, explain?: Explain, io?: ForegroundIO): Promise<number> {
  const paths = pathsOf(ctx, record);
  // chroot isolation has no mount namespace to mount the overlay in: the engine mounts it on the
  // host for the container's life, and unmounts it whatever happens.
  let hostMount = null;
  if (record.isolation === 'chroot') {
    explain?.([renderOverlayMount(overlayOptions(ctx, record))]);
    hostMount = mountOverlay(overlayOptions(ctx, record));
  }
  const log = new LogWriter(monitorPaths(ctx, record.id).log);
  const output = record.tty ? null : teeOutput(log, io);
  try {
    await ctx.network.setUp(record.id, explain); // before the process, all or nothing
    const onPlan = explain && ((plan: Plan, rootfs: string, cgroupOps: CgroupOp[]) => explain(renderRunPlan(plan, rootfs, cgroupOps)));
    const result = await ctx.runtime.run(record.id, {
      bundle: paths.bundle,
      onPlan,
      stdio: output ? [io?.stdin ?? 0, output.stdoutFd, output.stderrFd] : undefined,
      onConsoleOutput: (chunk) => log.write('stdout', chunk),
      onStarted: (pid) => {
        output?.closeContainerEnds();
        enter(ctx, record, { ...record.state, status: 'running', pid, startedAt: new Date().toISOString(), foreground: holderId() });
      },
    });
    await output?.drained();
    enter(ctx, record, { ...record.state, status: 'exited', pid: 0, exitCode: result.exitCode, oomKilled: result.oomKilled, finishedAt: new Date().toISOString() }, false);
    return result.exitCode;
  } finally {
    output?.closeContainerEnds();
    log.close();
    // The process is gone: its network goes down (with --rm, its network record too, in removeFiles).
    if (!record.autoRemove) await ctx.network.tearDown(record.id, explain);
    hostMount?.unmount({ detach: true });
    if (record.state.status !== 'exited') enter(ctx, record, { ...record.state, status: 'exited', finishedAt: new Date().toISOString() }, false);
    if (record.autoRemove) await removeFiles(ctx, record, true, explain);
    else ctx.containers.save(record);
  }
}

/**
 * A foreground container's stdout and stderr as pipes (not sockets: open("/dev/stdout") fails on
 * a socket), copied to ours (or `io`'s) and to its log, as conmon does for a detached one.
 */
function teeOutput(log: LogWriter, io?: ForegroundIO) {
  const [stdoutRead, stdoutFd] = native.pipe();
  const [stderrRead, stderrFd] = native.pipe();
  const copy = (fd: number, stream: 'stdout' | 'stderr', to: Writable) => {
    const from = new Socket({ fd, readable: true, writable: false });
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      log.write(stream, chunk);
    });
    return new Promise<void>((resolve) => from.once('close', () => resolve()));
  };
  const done = Promise.all([copy(stdoutRead, 'stdout', io?.stdout ?? process.stdout), copy(stderrRead, 'stderr', io?.stderr ?? process.stderr)]);
  let open = true;
  return {
    stdoutFd,
    stderrFd,
    /** Once the container holds its own copies: ours closed, so that its exit is our end of file. */
    closeContainerEnds() {
      if (!open) return;
      open = false;
      closeSync(stdoutFd);
      closeSync(stderrFd);
    },
    drained: () => done,
  };
}
