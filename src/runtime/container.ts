// The runtime's operations, as a library: create, start, run, state, kill, delete, exec.
// Every failure leaves nothing behind: no state dir, no process, no namespace (the child's mounts
// live and die in its own mount namespace).
import { chmodSync, chownSync, closeSync, constants as fsConstants, existsSync, openSync, readFileSync, readSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { constants } from 'node:os';
import { writeFileAtomic } from '../fs/atomic.js';
import { native } from '../kernel/native.js';
import { KernelError, StepError } from '../kernel/errors.js';
import { SyncTag, type Plan } from '../kernel/plan.js';
import { spawnPlan, type ExitStatus, type PlanProcess } from '../kernel/spawn.js';
import type { CgroupDriver, CgroupOp } from '../cgroups/driver.js';
import { buildPlan } from './build-plan.js';
import { cgroupOf, cgroupPathOf, containerResources } from './cgroup.js';
import { proxyConsole } from './console.js';
import { runHooks, runHooksWarning } from './hooks.js';
import { NS_FILE, buildJoinPlan } from './join-plan.js';
import { rootOnHost } from './namespaces.js';
import { executableOf, isAlive, signalProcess, startTimeOf, waitGone } from './processes.js';
import { unraisableAmbient, type SeccompLoad } from './privileges.js';
import { libseccompVersion } from '../kernel/seccomp.js';
import { seccompFilter, type SeccompFilter } from './seccomp.js';
import { handOverListener } from './seccomp-agent.js';
import { parseSpec, SpecError } from './spec.js';
import type { Hook, Process, Resources, Spec, OciState, OciStatus } from '../oci/runtime-spec.js';
import { StateDir, type ContainerRecord } from './state.js';
import { BerthError } from '../errors.js';

export interface CreateOptions {
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot?: boolean;
  /** Called with the plan before it runs (`--explain` prints it), and the cgroup's. */
  onPlan?: (plan: Plan, rootfs: string, cgroupOps: CgroupOp[]) => void;
  /** Build the plan and stop: nothing is created. */
  dryRun?: boolean;
  stdio?: [number, number, number];
}

/** An error of the runtime, already worded for a user; `exitCode` for `run` (126/127 like a shell). */
export class RuntimeError extends BerthError {
  override readonly name = 'RuntimeError';
  constructor(message: string, readonly exitCode = 1) {
    super(message, { kind: exitCode === 127 ? 'command-not-found' : exitCode === 126 ? 'cannot-execute' : 'system' });
  }
}

/** The exit code a shell would give for a failure to start the program. */
function exitCodeFor(err: unknown): number {
  if (err instanceof StepError && /^exec |^wait on the exec FIFO/.test(err.action)) {
    if (err.code === 'ENOENT') return 127;
    if (err.code === 'EACCES' || err.code === 'ENOEXEC' || err.code === 'EISDIR') return 126;
  }
  return 1;
}

export function loadBundle(bundle: string): { spec: Spec; bundle: string; rootfs: string } {
  const dir = resolve(bundle);
  const configPath = join(dir, 'config.json');
  let text: string;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!existsSync(dir)) throw new RuntimeError(`bundle ${dir}: no such directory`);
    throw new RuntimeError(`${configPath}: ${code === 'ENOENT' ? 'missing' : code}`);
  }
  const spec = parseSpec(text, configPath);
  const rootfs = isAbsolute(spec.root.path) ? spec.root.path : resolve(dir, spec.root.path);
  let isDir = false;
  try {
    isDir = statSync(rootfs).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) throw new SpecError(configPath, 'root.path', `rootfs ${rootfs} is not a directory`);
  return { spec, bundle: dir, rootfs };
}

function ociState(record: ContainerRecord, status: OciStatus): OciState {
  const state: OciState = { ociVersion: record.config.ociVersion, id: record.id, status, bundle: record.bundle };
  if (status !== 'stopped') state.pid = record.pid;
  if (record.config.annotations) state.annotations = record.config.annotations;
  return state;
}

/** Namespace files of the container's init as exec will join them: its own, or the ones it joined. */
function namespaceFiles(spec: Spec, pid: number): Record<string, string> {
  const files: Record<string, string> = {};
  for (const ns of spec.linux?.namespaces ?? []) files[ns.type] = ns.path ?? `/proc/${pid}/ns/${NS_FILE[ns.type]}`;
  return files;
}

/** The container's init on record: its pid, start time and namespaces, and while it waits for
 *  `start` the executable it waits in (berth-init: `status` tells created from a pid reused). */
function recordInit(record: ContainerRecord, spec: Spec, pid: number, waiting: boolean): void {
  record.pid = pid;
  record.pidStartTime = startTimeOf(pid) ?? '';
  record.namespaces = namespaceFiles(spec, pid);
  if (waiting) record.waitingExe = executableOf(pid) ?? undefined;
}

/** Where a warning goes by default: the runtime's CLI and the engine pass their own. */
function warnOnStderr(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export class Runtime {
  readonly states: StateDir;

  constructor(
    root?: string,
    /** Things done differently from what was asked, but tolerated as runc tolerates them. */
    readonly warn: (message: string) => void = warnOnStderr,
  ) {
    this.states = new StateDir(root);
  }

  /** Compiled seccomp filters, beside the containers' state (seccomp-cache.ts). */
  private get seccompCacheDir(): string {
    return join(this.states.root, '.seccomp');
  }

  /** The container's linux.seccomp, compiled or from the cache; null without one. */
  private seccompOf(spec: Spec, configFile: string): SeccompFilter | null {
    return seccompFilter(spec, configFile, this.seccompCacheDir);
  }

  /**
   * The filter as a plan loads it. With a notify listener, a socketpair carries it from the child:
   * both ends go into `fds` (closed by the caller), the one we receive on is returned too.
   * `placeholderFd` stands for the child's end in a plan that is only printed.
   */
  private seccompLoad(filter: SeccompFilter | null, fds: number[], placeholderFd?: number): { load: SeccompLoad | null; receiveFd: number } {
    if (!filter) return { load: null, receiveFd: -1 };
    if (!filter.listener) return { load: { filter, listenerSocketFd: null }, receiveFd: -1 };
    if (placeholderFd !== undefined) return { load: { filter, listenerSocketFd: placeholderFd }, receiveFd: -1 };
    const [receiveFd, sendFd] = native.socketpair();
    fds.push(receiveFd, sendFd);
    return { load: { filter, listenerSocketFd: sendFd }, receiveFd };
  }

  /** Status from the process itself: alive and waiting on the FIFO = created; frozen = paused; alive = running. */
  status(record: ContainerRecord): OciStatus {
    if (!isAlive(record.pid, record.pidStartTime)) return 'stopped';
    // The FIFO's name goes right after a start opens it; a start killed in between leaves it, with
    // the process released: the process's own executable says whether it is still waiting.
    if (existsSync(this.states.fifo(record.id)) && (record.waitingExe === undefined || executableOf(record.pid) === record.waitingExe)) return 'created';
    return cgroupOf(record.cgroupPath).isFrozen() ? 'paused' : 'running';
  }

  /** The OCI state; `oomKilled` when the kernel's OOM killer killed a process of the container. */
  state(id: string): OciState & { oomKilled?: boolean } {
    const record = this.states.load(id);
    const state: OciState & { oomKilled?: boolean } = ociState(record, this.status(record));
    if (cgroupOf(record.cgroupPath).oomKilled()) state.oomKilled = true;
    return state;
  }

  list(): { record: ContainerRecord; status: OciStatus }[] {
    const out = [];
    for (const id of this.states.ids()) {
      try {
        const record = this.states.load(id);
        out.push({ record, status: this.status(record) });
      } catch {
        // a container being created or deleted right now
      }
    }
    return out;
  }

  /**
   * Starts the container's process and leaves it waiting on the exec FIFO (`start` releases it),
   * or, with `startNow`, lets it exec at once (`run`). Returns the process.
   */
  async create(
    id: string,
    opts: CreateOptions & { detach?: boolean },
    startNow = false,
  ): Promise<{ record: ContainerRecord; process: PlanProcess | null; consoleMaster?: number }> {
    this.states.dir(id); // validates the id before anything else
    const { spec, bundle, rootfs } = loadBundle(opts.bundle);
    const configFile = join(bundle, 'config.json');
    const cgroupPath = cgroupPathOf(spec, id);
    const cgroup = cgroupOf(cgroupPath);
    // Compiled before anything exists: a profile refused here leaves nothing behind.
    const filter = this.seccompOf(spec, configFile);
    if (opts.dryRun) {
      const seccomp = this.seccompLoad(filter, [], 5).load;
      const plan = buildPlan(spec, { bundle, rootfs, cgroupPath, stdio: [0, 1, 2], noPivot: opts.noPivot, execFifoFd: startNow ? undefined : 3, consoleSocketFd: spec.process.terminal ? 4 : undefined, pauseAfterCreate: true, pauseBeforePivot: hasCreateHooks(spec), seccomp });
      opts.onPlan?.(plan, rootfs, cgroup.planCreate(containerResources(spec)));
      return { record: null as unknown as ContainerRecord, process: null };
    }
    if (filter?.skipped.length) this.warn(`linux.seccomp: syscalls unknown to libseccomp ${libseccompVersion()} skipped: ${filter.skipped.join(', ')}`);
    const ambientWarning = unraisableAmbient(spec.process);
    if (ambientWarning) this.warn(ambientWarning);
    this.states.claim(id);
    // Saved before anything else exists: a runtime killed from here on leaves a record that
    // `delete --force` can clean up after (pid 0 reads as stopped until the real pid is known).
    const record: ContainerRecord = { id, bundle, rootfs, pid: 0, pidStartTime: '', created: new Date().toISOString(), config: spec, namespaces: {}, cgroupPath };
    const fds: number[] = [];
    let proc: PlanProcess | null = null;
    let cgroupMade = false;
    let saved: string;
    try {
      saved = this.states.save(record);
      const cgroupOps = cgroup.planCreate(containerResources(spec)); // refuses bad resources before anything exists
      for (const warning of cgroup.discarded(containerResources(spec))) this.warn(warning);
      const seccomp = this.seccompLoad(filter, fds);
      let execFifoFd: number | undefined;
      if (!startNow) {
        // Writable by the container's root, also when it is another uid on the host (a user
        // namespace): mkfifo's mode is cut by Node's umask, so it is set again, and owned as runc owns it.
        const fifo = this.states.fifo(id);
        native.mkfifo(fifo, 0o622);
        chmodSync(fifo, 0o622);
        const owner = rootOnHost(spec);
        chownSync(fifo, owner.uid, owner.gid);
        execFifoFd = native.openPath(fifo);
        fds.push(execFifoFd);
      }
      let consoleSocketFd: number | undefined;
      let consoleReceiveFd: number | undefined;
      if (spec.process.terminal && opts.consoleSocket) {
        consoleSocketFd = native.unixConnect(opts.consoleSocket);
        fds.push(consoleSocketFd);
      } else if (spec.process.terminal && startNow && !opts.detach) {
        // run in the foreground: we are the console socket's other end ourselves.
        [consoleReceiveFd, consoleSocketFd] = native.socketpair();
        fds.push(consoleReceiveFd, consoleSocketFd);
      }
      const plan = buildPlan(spec, {
        bundle,
        rootfs,
        cgroupPath,
        stdio: opts.stdio ?? [0, 1, 2],
        noPivot: opts.noPivot,
        execFifoFd,
        consoleSocketFd,
        consoleSize: consoleReceiveFd !== undefined && process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined,
        pauseAfterCreate: true,
        pauseBeforePivot: hasCreateHooks(spec),
        seccomp: seccomp.load,
      });
      opts.onPlan?.(plan, rootfs, cgroupOps);
      cgroupMade = true;
      cgroup.apply(cgroupOps);
      const started = await spawnPlan(plan, {
        onSync: async (tag, pid) => {
          record.pid = pid;
          if (tag === SyncTag.Created) {
            // While the child waits: its pid on record (a crash from here on leaves it findable),
            // its place in the cgroup (before it unshares its cgroup namespace), its id maps. The
            // child runs berth-init already: its namespaces and the executable it waits in are
            // known, and go in the same save.
            recordInit(record, spec, pid, !startNow);
            saved = this.states.save(record);
            cgroup.addProcess(pid);
            writeIdMaps(spec, pid);
          }
          if (tag === SyncTag.BeforePivot) {
            // The state these hooks read says `created`, as runtime-tools' hooks_stdin and crun
            // have it: the container's namespaces and mounts exist, its program has not run.
            const created = ociState(record, 'created');
            await runHooks('prestart', spec.hooks?.prestart, created);
            await runHooks('createRuntime', spec.hooks?.createRuntime, created);
            record.namespaces = namespaceFiles(spec, pid);
            await this.runHooksInside('createContainer', spec.hooks?.createContainer, record, created);
          }
          if (tag === SyncTag.SeccompListener) {
            handOverListener(filter!.listener!, seccomp.receiveFd, pid, ociState(record, 'creating'));
          }
        },
      });
      proc = started.process;
      recordInit(record, spec, proc.pid, !startNow);
      // Saved again only if something changed since the save at Created (usually nothing: one
      // write and fsync less on the way to `created`, which conmon waits for).
      if (JSON.stringify(record) !== saved) this.states.save(record);
      if (opts.pidFile) writeFileAtomic(resolve(opts.pidFile), String(proc.pid));
      const consoleMaster = consoleReceiveFd === undefined ? undefined : native.recvFd(consoleReceiveFd);
      return { record, process: proc, consoleMaster };
    } catch (err) {
      if (proc) {
        proc.signal(9);
        await proc.watch();
      }
      if (cgroupMade) await cgroup.destroy();
      this.states.remove(id);
      throw wrapStartError(err);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** Releases a created container: its process execs. Then the poststart hooks. */
  async start(id: string): Promise<void> {
    const record = this.states.load(id);
    const status = this.status(record);
    if (status !== 'created') throw new RuntimeError(`cannot start container ${id}: it is ${status}, not created`);
    const config = record.config;
    await this.runHooksInside('startContainer', config.hooks?.startContainer, record, ociState(record, 'created'));
    const fifo = this.states.fifo(id);
    const fd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    // Opening it for reading is what releases the process, and the FIFO's name is what says
    // "created": removed at once, not after the read, so that a start killed meanwhile leaves a
    // container said to be created while it runs only for the moment between these two calls.
    unlinkSync(fifo);
    try {
      readExecSignal(fd, () => isAlive(record.pid, record.pidStartTime));
    } catch (err) {
      throw new RuntimeError(`cannot start container ${id}: ${(err as Error).message}`);
    } finally {
      closeSync(fd);
    }
    await runHooksWarning('poststart', config.hooks?.poststart, ociState(record, 'running'), this.warn);
  }

  /**
   * create + start in one: waits for the exit, forwarding signals, then deletes. Returns the exit
   * status as a shell gives it, and whether the OOM killer struck (read before the cgroup went).
   */
  async run(id: string, opts: CreateOptions & { detach?: boolean; onStarted?: (pid: number) => void; onConsoleOutput?: (chunk: Buffer) => void }): Promise<{ exitCode: number; oomKilled: boolean }> {
    // Signals are caught from the start, as runc does: one that arrives while the container is being
    // made is held and forwarded once its process exists, instead of killing the runtime and
    // leaving the container running with no one to wait for it.
    const pending: number[] = [];
    let target: PlanProcess | null = null;
    const forward = opts.detach
      ? []
      : FORWARDED_SIGNALS.map((name) => {
          const handler = () => (target ? target.signal(constants.signals[name]) : pending.push(constants.signals[name]));
          process.on(name, handler);
          return () => process.off(name, handler);
        });
    try {
      const { record, process: proc, consoleMaster } = await this.create(id, opts, true);
      if (!proc) return { exitCode: 0, oomKilled: false };
      const console = consoleMaster === undefined ? null : proxyConsole(consoleMaster, opts.onConsoleOutput);
      try {
        await runHooksWarning('poststart', record.config.hooks?.poststart, ociState(record, 'running'), this.warn);
      } catch (err) {
        proc.signal(9);
        await proc.watch();
        await this.delete(id, true);
        throw err;
      }
      opts.onStarted?.(proc.pid);
      if (opts.detach) {
        proc.release();
        return { exitCode: 0, oomKilled: false };
      }
      target = proc;
      for (const sig of pending.splice(0)) proc.signal(sig);
      const status = await proc.watch();
      if (console) {
        await console.done;
        console.stop();
      }
      const { oomKilled } = await this.delete(id, true);
      return { exitCode: exitCodeOf(status), oomKilled };
    } finally {
      for (const off of forward) off();
    }
  }

  /**
   * Signals the container's init, or with `all` every process in its cgroup, as runc does:
   * - `all` works on a stopped container too, for what its init left behind (containerd's runc shim
   *   sends `kill --all ID 9` once the init of a container in a shared PID namespace has exited);
   *   an empty cgroup, or one already gone, is success;
   * - a plain kill of a stopped container fails with runc's words, "container not running", which
   *   containerd's shim (and others) read as "the process already finished";
   * - SIGKILL to a paused container thaws it, or its frozen tasks could not die.
   */
  async kill(id: string, signal: number, all = false): Promise<void> {
    const record = this.states.load(id);
    const status = this.status(record);
    const cgroup = cgroupOf(record.cgroupPath);
    if (all) cgroup.kill(signal);
    else if (status === 'stopped' || !signalProcess(record.pid, record.pidStartTime, signal)) throw new RuntimeError(`cannot kill container ${id}: container not running`);
    if (status === 'paused' && signal === constants.signals.SIGKILL) await cgroup.thaw();
  }

  /**
   * Removes a stopped or created container (a running or paused one only with `force`, which kills
   * it first; a created one is killed as runc kills it, its process never ran the user's program):
   * its cgroup (after killing what is left in it, and reading whether the OOM killer struck), its
   * state. Then the poststop hooks.
   */
  async delete(id: string, force = false): Promise<{ oomKilled: boolean }> {
    if (force && this.states.removeUnsaved(id)) return { oomKilled: false };
    const record = this.states.load(id);
    const status = this.status(record);
    const cgroup = cgroupOf(record.cgroupPath);
    if (status !== 'stopped') {
      if (!force && status !== 'created') throw new RuntimeError(`cannot delete container ${id}: it is ${status}; stop it or use --force`);
      cgroup.kill(9);
      signalProcess(record.pid, record.pidStartTime, 9);
      if (status === 'paused') await cgroup.thaw(); // frozen tasks die only once thawed
      if (!(await waitGone(record.pid, record.pidStartTime, 10_000))) {
        throw new RuntimeError(`cannot delete container ${id}: its process ${record.pid} did not die after SIGKILL`);
      }
    }
    const oomKilled = cgroup.oomKilled();
    await cgroup.destroy();
    this.states.remove(id);
    await runHooksWarning('poststop', record.config.hooks?.poststop, ociState(record, 'stopped'), this.warn);
    return { oomKilled };
  }

  /** Freezes every process of a running container (v1 freezer, v2 cgroup.freeze). */
  async pause(id: string): Promise<void> {
    const record = this.states.load(id);
    const status = this.status(record);
    if (status !== 'running') throw new RuntimeError(`cannot pause container ${id}: it is ${status}`);
    await cgroupOf(record.cgroupPath).freeze();
  }

  async resume(id: string): Promise<void> {
    const record = this.states.load(id);
    const status = this.status(record);
    if (status !== 'paused') throw new RuntimeError(`cannot resume container ${id}: it is ${status}, not paused`);
    await cgroupOf(record.cgroupPath).thaw();
  }

  /** Changes the limits of a live container; the new resources are kept in its record. */
  update(id: string, resources: Resources, onOps?: (ops: CgroupOp[]) => void): void {
    const record = this.states.load(id);
    const status = this.status(record);
    if (status === 'stopped') throw new RuntimeError(`cannot update container ${id}: it is stopped`);
    const cgroup = cgroupOf(record.cgroupPath);
    const ops = cgroup.planUpdate(resources);
    for (const warning of cgroup.discarded(resources)) this.warn(warning);
    onOps?.(ops);
    cgroup.apply(ops);
    const linux = (record.config.linux ??= {});
    linux.resources = mergeResources(linux.resources ?? {}, resources);
    this.states.save(record);
  }

  /** The container's cgroup, for stats and process lists. */
  cgroup(id: string): CgroupDriver {
    return cgroupOf(this.states.load(id).cgroupPath);
  }

  /**
   * Starts `proc` inside a running container. Resolves once it exec'd. A terminal's pty master
   * goes to `consoleSocket`, or with `foregroundConsole` comes back to the caller.
   */
  async exec(
    id: string,
    proc: Process,
    opts: {
      stdio?: [number, number, number];
      consoleSocket?: string;
      foregroundConsole?: boolean;
      onPlan?: (plan: Plan, rootfs: string) => void;
      dryRun?: boolean;
    },
  ): Promise<{ process: PlanProcess; consoleMaster?: number } | null> {
    const record = this.states.load(id);
    const status = this.status(record);
    if (status !== 'running' && status !== 'created') throw new RuntimeError(`cannot exec in container ${id}: it is ${status}`);
    // The container's filter, as its own process has it (runc does the same for exec).
    const filter = this.seccompOf(record.config, join(record.bundle, 'config.json'));
    if (opts.dryRun) {
      // The plan only: no console socket is connected, no process started.
      const seccomp = this.seccompLoad(filter, [], 5).load;
      const plan = buildJoinPlan(record, proc, { stdio: opts.stdio ?? [0, 1, 2], consoleSocketFd: proc.terminal ? 4 : undefined, seccomp });
      opts.onPlan?.(plan, record.rootfs);
      return null;
    }
    const fds: number[] = [];
    let consoleSocketFd: number | undefined;
    let consoleReceiveFd: number | undefined;
    try {
      if (proc.terminal && opts.consoleSocket) {
        consoleSocketFd = native.unixConnect(opts.consoleSocket);
        fds.push(consoleSocketFd);
      } else if (proc.terminal && opts.foregroundConsole) {
        [consoleReceiveFd, consoleSocketFd] = native.socketpair();
        fds.push(consoleReceiveFd, consoleSocketFd);
      }
      if (proc.terminal && consoleSocketFd === undefined) throw new RuntimeError('exec: a terminal needs --console-socket');
      const ambientWarning = unraisableAmbient(proc);
      if (ambientWarning) this.warn(ambientWarning);
      const seccomp = this.seccompLoad(filter, fds);
      const plan = buildJoinPlan(record, proc, { stdio: opts.stdio ?? [0, 1, 2], consoleSocketFd, seccomp: seccomp.load });
      opts.onPlan?.(plan, record.rootfs);
      const { process: child } = await spawnPlan(plan, {
        onSync: (tag, pid) => {
          if (tag === SyncTag.Created) cgroupOf(record.cgroupPath).addProcess(pid);
          if (tag === SyncTag.SeccompListener) handOverListener(filter!.listener!, seccomp.receiveFd, pid, ociState(record, 'running'));
        },
      });
      return { process: child, consoleMaster: consoleReceiveFd === undefined ? undefined : native.recvFd(consoleReceiveFd) };
    } catch (err) {
      throw wrapStartError(err);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** A process joining the container joins its cgroup too, while it waits after the clone. */
  private joinCgroup(record: ContainerRecord) {
    return { onSync: (_tag: SyncTag, pid: number) => cgroupOf(record.cgroupPath).addProcess(pid) };
  }

  /** Hooks that run "in the container namespace": each joins the container as exec would. */
  private async runHooksInside(kind: 'createContainer' | 'startContainer', hooks: Hook[] | undefined, record: ContainerRecord, state: OciState): Promise<void> {
    for (const hook of hooks ?? []) {
      const [stdinOurs, stdinTheirs] = native.socketpair();
      let proc: PlanProcess;
      try {
        const plan = buildJoinPlan(record, { args: [hook.path, ...(hook.args ?? []).slice(1)], env: hook.env ?? [], cwd: '/' }, { stdio: [stdinTheirs, 1, 2], asHook: true });
        proc = (await spawnPlan(plan, this.joinCgroup(record))).process;
      } catch (err) {
        throw new RuntimeError(`${kind} hook ${hook.path}: ${(err as Error).message}`);
      } finally {
        closeSync(stdinTheirs);
      }
      try {
        writeFileSync(stdinOurs, JSON.stringify(state));
      } catch {
        // the hook need not read its stdin
      }
      closeSync(stdinOurs);
      const timer = hook.timeout ? setTimeout(() => proc.signal(9), hook.timeout * 1000) : undefined;
      const status = await proc.watch();
      clearTimeout(timer);
      if (!status || status.code !== 0) {
        throw new RuntimeError(`${kind} hook ${hook.path}: ${status?.signal ? `killed by signal ${status.signal}` : `exit status ${status?.code}`}`);
      }
    }
  }
}

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

function hasCreateHooks(spec: Spec): boolean {
  const h = spec.hooks ?? {};
  return Boolean(h.prestart?.length || h.createRuntime?.length || h.createContainer?.length);
}

/** `update` on top of what the container had: each resource group's fields replaced one by one. */
function mergeResources(old: Resources, changes: Resources): Resources {
  const merged: Record<string, unknown> = { ...old };
  for (const [key, value] of Object.entries(changes)) {
    const before = merged[key];
    merged[key] = value && typeof value === 'object' && !Array.isArray(value) && before && typeof before === 'object' ? { ...before, ...value } : value;
  }
  return merged as Resources;
}

/** A shell's convention: the code, or 128 + the signal that killed it. */
export function exitCodeOf(status: ExitStatus | null): number {
  if (!status) return 255;
  return status.code ?? 128 + (status.signal ?? 0);
}

/** uid_map/gid_map of a new user namespace, written by the parent while the child waits. */
function writeIdMaps(spec: Spec, pid: number): void {
  const linux = spec.linux ?? {};
  const userNs = linux.namespaces?.find((n) => n.type === 'user');
  if (!userNs || userNs.path) return;
  const lines = (maps = linux.uidMappings ?? []) => maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
  writeFileSync(`/proc/${pid}/uid_map`, lines(linux.uidMappings));
  writeFileSync(`/proc/${pid}/gid_map`, lines(linux.gidMappings));
}

/** Reads the byte the container writes once released; fails if its process is gone instead. */
function readExecSignal(fd: number, alive: () => boolean): void {
  const byte = Buffer.alloc(1);
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if (readSync(fd, byte, 0, 1, null) === 1) return;
      // 0 is no writer on the FIFO: none yet as well as none any more. The process, blocked in
      // its open until ours, may not have run since (a loaded host: seen with 50 starts at once);
      // it is dead only when its pid says so, below.
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
    }
    if (!alive()) throw new Error('its process exited before it could start');
    if (Date.now() > deadline) throw new Error('its process did not answer on the exec FIFO');
    Atomics.wait(sleeper, 0, 0, 1);
  }
}

/** Kernel errors of the start get the shell's exit codes (127 not found, 126 not executable). */
function wrapStartError(err: unknown): unknown {
  return err instanceof KernelError ? new RuntimeError(err.message, exitCodeFor(err)) : err;
}
