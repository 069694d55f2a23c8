// A container's life, as one state machine: its states, the moves between them, and what each
// move does on disk. Every change of a record's status goes through `enter`, which refuses a move
// the table does not have; the moves that do more than write container.json are here too:
//
//   created ──start──▶ running ◀──unpause── paused
//      │                 │  └─────pause─────▶ │
//      │                 └──exit──▶ exited ◀──┘ (settle: the exit file, OOM, runtime state deleted)
//      └──a start that failed──────▶ │
//                       exited ──start, restart policy──▶ running
//                       exited ──a start that failed, of a container that never ran──▶ created
//   any state but running/paused ──rm──▶ removed (removeFiles: network, directory, name, volumes)
//
// On disk, a status is container.json (<root>/containers/<id>/, written by rename); `running` also
// means a runtime state under /run/berth/runtime and, when monitored, a conmon whose exit file
// (<root>/exits/<id>) `settle` reads. A record that says running whose process is gone is settled
// by whichever command finds it, so a crash never leaves a record that lies.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { holderAlive } from '../fs/lock.js';
import { isMissing } from '../errors.js';
import { renderRunPlan } from '../runtime/explain.js';
import { startTimeOf } from '../runtime/processes.js';
import { ContainerStoreError, type ContainerRecord, type ContainerStatus } from './containers.js';
import { monitorOptions, monitorPaths, pathsOf, sleep, type EngineContext, type Explain } from './context.js';
import { recordContainerEvent, recordEvent } from './events.js';
import { hasLiveWaiter } from './exit-waiters.js';
import { conmonArgv, readExitFile, removeExitFile, SOCKET_DIR, startMonitor, type MonitorOptions } from './monitor.js';
import { shouldRestart } from './restart-policy.js';

/** The moves each status allows (removal, from any status but running or paused, is `removeFiles`). */
export const TRANSITIONS: Readonly<Record<ContainerStatus, readonly ContainerStatus[]>> = {
  created: ['running', 'exited'],
  running: ['paused', 'exited'],
  paused: ['running', 'exited'],
  // A start that failed, of a container that never ran (its foreground run failed before its
  // program did): created again, as docker leaves such a container.
  exited: ['running', 'created'],
};

/** How long a monitor may take to write the exit file once the container's process is gone. */
export const EXIT_FILE_WAIT_MS = 5_000;

/**
 * The record in `state`, written (unless `save` is false: the caller writes it, or removes the
 * container). A move the table does not allow is a bug of the caller's, refused.
 */
export function enter(ctx: EngineContext, record: ContainerRecord, state: ContainerRecord['state'], save = true): void {
  const from = record.state.status;
  if (state.status !== from && !TRANSITIONS[from].includes(state.status)) {
    throw new ContainerStoreError(`container ${record.name}: no move from ${from} to ${state.status}`);
  }
  record.state = state;
  if (save) ctx.containers.save(record);
  const action = MOVE_EVENTS[`${from}>${state.status}`];
  if (action === 'start') {
    // docker's order: its volumes' mount events, then the start.
    for (const m of record.mounts ?? []) {
      if (m.type === 'volume' && m.name) recordEvent(ctx.root, 'volume', 'mount', m.name, { container: record.id, destination: m.destination, driver: 'local', propagation: '', 'read/write': String(m.rw) });
    }
  }
  if (action) recordContainerEvent(ctx.root, record, action, action === 'die' ? { exitCode: String(state.exitCode) } : {});
}

/** The events of docker's that a move is (the others, stop, kill, restart, are the operations'). */
const MOVE_EVENTS: Record<string, string> = {
  'created>running': 'start',
  'exited>running': 'start',
  'running>paused': 'pause',
  'paused>running': 'unpause',
  'running>exited': 'die',
  'paused>exited': 'die',
};

/** Whether the container's process is alive, by the runtime's state (gone with /run: not alive). */
export function runtimeStatus(ctx: EngineContext, id: string): 'created' | 'running' | 'paused' | 'stopped' | null {
  try {
    const status = ctx.runtime.state(id).status;
    return status === 'creating' ? 'created' : status;
  } catch {
    // No runtime state (never created, deleted, or gone with /run): no process of it is alive.
    return null;
  }
}

/** conmon's pid and start time while it lives. */
export function monitorProcess(ctx: EngineContext, id: string): { pid: number; startTime: string } | null {
  let text: string;
  try {
    text = readFileSync(monitorPaths(ctx, id).conmonPidFile, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return null; // never monitored, or its files are gone
  }
  const pid = Number(text.trim());
  const startTime = pid > 0 ? startTimeOf(pid) : null;
  return startTime === null ? null : { pid, startTime };
}

/** Waits until the monitor has written the exit file, or is gone. */
async function awaitMonitorExit(ctx: EngineContext, record: ContainerRecord): Promise<number | null> {
  const paths = monitorPaths(ctx, record.id);
  const deadline = Date.now() + EXIT_FILE_WAIT_MS;
  for (;;) {
    const code = readExitFile(paths, record.id);
    if (code !== null || monitorProcess(ctx, record.id) === null || Date.now() > deadline) return code;
    await sleep(5);
  }
}

/** Waits until the container's process is gone; false after `ms`. */
export async function waitProcessGone(ctx: EngineContext, id: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = runtimeStatus(ctx, id);
    if (status === null || status === 'stopped') return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}

/**
 * A previous run's runtime state (a crash between create and start, a run whose exit was never
 * settled): killed and deleted, after its monitor has written its exit file, so that a late
 * exit file of the old run cannot be taken for the new run's.
 */
export async function deleteRuntimeLeftovers(ctx: EngineContext, record: ContainerRecord): Promise<void> {
  let existed = false;
  try {
    await ctx.runtime.delete(record.id, true);
    existed = true;
  } catch {
    // No runtime state to delete: the runtime says so, and there is nothing to wait for.
  }
  if (existed) await awaitMonitorExit(ctx, record);
  removeExitFile(monitorPaths(ctx, record.id), record.id);
}

/**
 * created or exited → running, under the container's lock: conmon, the runtime's create through
 * it, then the runtime's start. `beforeStart` runs between the two (an attach client connects
 * there, so that it misses no output). A failure leaves the container where it was, with the
 * error in its record.
 */
export async function startMonitored(ctx: EngineContext, record: ContainerRecord, opts: { beforeStart?: (record: ContainerRecord) => Promise<void>; explain?: Explain } = {}): Promise<void> {
  if (record.isolation === 'chroot') throw new ContainerStoreError(`cannot start container ${record.name}: --isolation chroot containers run in the foreground only (berth run)`);
  await deleteRuntimeLeftovers(ctx, record);
  mkdirSync(pathsOf(ctx, record).monitor, { recursive: true, mode: 0o700 });
  const monitor = monitorOptions(ctx, record);
  if (opts.explain) await explainMonitored(ctx, record, monitor, opts.explain);
  record.state = { ...record.state, stoppedByUser: false, error: undefined };
  record.monitored = true; // a container first run in the foreground, started again: detached now
  try {
    await ctx.network.setUp(record.id, opts.explain); // before the process, all or nothing
    const { pid } = await startMonitor(monitor);
    record.state = { ...record.state, pid };
    await opts.beforeStart?.(record);
    await ctx.runtime.start(record.id);
    enter(ctx, record, { status: 'running', pid, exitCode: 0, oomKilled: false, startedAt: new Date().toISOString() });
  } catch (err) {
    await deleteRuntimeLeftovers(ctx, record);
    await ctx.network.tearDown(record.id);
    enter(ctx, record, { ...record.state, status: record.state.startedAt ? 'exited' : 'created', pid: 0, error: (err as Error).message });
    throw err;
  }
}

/** --explain for a monitored start: conmon's command line, then what the runtime will do. */
async function explainMonitored(ctx: EngineContext, record: ContainerRecord, monitor: MonitorOptions, explain: Explain): Promise<void> {
  const argv = conmonArgv(monitor).map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`));
  explain([`# the monitor: conmon runs the runtime's create, then waits for the container`, argv.join(' ')]);
  await ctx.runtime.create(record.id, {
    bundle: monitorPaths(ctx, record.id).bundle,
    dryRun: true,
    onPlan: (plan, rootfs, cgroupOps) => explain(renderRunPlan(plan, rootfs, cgroupOps)),
  });
}

/**
 * While the foreground `berth run` of a container lives, it records the exit itself: waited for
 * (it may be finishing right now). The record as it then is, or undefined when that process is
 * gone without doing so (killed), and the exit is to be settled here.
 */
async function awaitForegroundExit(ctx: EngineContext, record: ContainerRecord): Promise<ContainerRecord | null | undefined> {
  const deadline = Date.now() + EXIT_FILE_WAIT_MS;
  for (;;) {
    const now = ctx.containers.tryLoad(record.id);
    if (!now) return null; // --rm: removed by its berth
    if (now.state.status === 'exited') return now;
    if (!holderAlive(now.state.foreground ?? '') || Date.now() > deadline) return undefined;
    await sleep(10);
  }
}

/**
 * running → exited, under the container's lock: a record that says running whose process is gone
 * gets its exit recorded (conmon's exit file; unknown when berth or the monitor died with it), its
 * runtime state and cgroup removed, and then what its restart policy and --rm say. Returns the
 * record as it now is, or null once removed.
 */
export async function settle(ctx: EngineContext, record: ContainerRecord): Promise<ContainerRecord | null> {
  if (record.state.status === 'created' && record.monitored) {
    const live = runtimeStatus(ctx, record.id);
    if (live === null || live === 'created') return record;
    // Its process was released by a start whose berth died before recording it: running from
    // here on, and settled below like any running container.
    enter(ctx, record, { ...record.state, status: 'running', pid: ctx.runtime.state(record.id).pid ?? 0, startedAt: new Date().toISOString() });
  }
  if (record.state.status !== 'running' && record.state.status !== 'paused') return record;
  const live = runtimeStatus(ctx, record.id);
  if (live === 'running' || live === 'paused') {
    if (live !== record.state.status) enter(ctx, record, { ...record.state, status: live });
    return record;
  }
  if (!record.monitored) {
    const recorded = await awaitForegroundExit(ctx, record);
    if (recorded !== undefined) return recorded;
  }
  let exitCode: number | null = null;
  let error: string | undefined;
  if (record.monitored) {
    exitCode = await awaitMonitorExit(ctx, record);
    if (exitCode === null) error = 'its monitor (conmon) ended without recording an exit status';
  } else {
    error = 'the berth process running it in the foreground ended before it';
  }
  let oomKilled = false;
  try {
    oomKilled = (await ctx.runtime.delete(record.id, true)).oomKilled;
  } catch {
    // Its runtime state went with /run: there is nothing to delete, and no OOM count left to read.
  }
  removeAttachLink(record.id);
  await ctx.network.tearDown(record.id);
  enter(ctx, record, { ...record.state, status: 'exited', pid: 0, exitCode: exitCode ?? 255, oomKilled, finishedAt: new Date().toISOString(), error }, false);
  if (record.monitored && shouldRestart(record.restartPolicy, { exitCode: record.state.exitCode, restartCount: record.restartCount, stoppedByUser: record.state.stoppedByUser ?? false })) {
    record.restartCount += 1;
    ctx.containers.save(record);
    try {
      await startMonitored(ctx, record);
    } catch {
      // startMonitored recorded the failure in state.error; the container stays exited.
    }
    return record;
  }
  if (record.autoRemove) {
    // The exit file stays while an attached `run --rm` or a `berth wait` still waits for it.
    await removeFiles(ctx, record, true);
    if (!hasLiveWaiter(monitorPaths(ctx, record.id).exitDir, record.id)) removeExitFile(monitorPaths(ctx, record.id), record.id);
    return null;
  }
  ctx.containers.save(record);
  return record;
}

/** The container's record once settled; an error naming `ref` when it is gone (a --rm container after its exit, as docker's). */
export async function settled(ctx: EngineContext, ref: string, id: string): Promise<ContainerRecord> {
  const record = await ctx.containers.locked(id, (r) => settle(ctx, r));
  if (record) return record;
  throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
}

/**
 * → removed: the container's network (its leases, rules, namespace), directory, name and attach
 * link; with `anonymousVolumes` (rm -v, --rm) its anonymous volumes.
 */
export async function removeFiles(ctx: EngineContext, record: ContainerRecord, anonymousVolumes: boolean, explain?: Explain): Promise<void> {
  await discardFiles(ctx, record, anonymousVolumes, explain);
  recordContainerEvent(ctx.root, record, 'destroy');
}

/** removeFiles without its destroy event: what a create that failed half way made (no create event was recorded). */
export async function discardFiles(ctx: EngineContext, record: ContainerRecord, anonymousVolumes: boolean, explain?: Explain): Promise<void> {
  await ctx.network.release(record.id, explain);
  ctx.containers.remove(record);
  removeAttachLink(record.id);
  if (anonymousVolumes) ctx.volumes.removeAnonymousOf(record.mounts, ctx.containers.list());
}

/** conmon's link to the bundle for the attach socket's short path (conmon 2.1.6 leaves it behind). */
export function removeAttachLink(id: string): void {
  rmSync(join(SOCKET_DIR, id), { force: true });
}
