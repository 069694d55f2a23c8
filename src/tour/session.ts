// What a tour holds while it runs: the engine, the image it uses, a scratch directory of its own,
// and every container it made, so that it leaves none behind, whether it ends, fails, or is
// interrupted (Ctrl-C). An interrupt only sets a flag and kills the containers that run: each
// await of the tour (a container's run, a sleep, a wait for Enter) then ends, its finally blocks
// undo what they made (the engine's own: an overlay mounted for chroot or for export is
// unmounted), and the tour removes its containers on the way out.
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { native } from '../kernel/native.js';
import type { EngineService } from '../engine/service.js';
import type { ContainerRecord } from '../engine/containers.js';
import { parseMountFlags } from '../engine/mount-flags.js';
import type { Spec } from '../oci/runtime-spec.js';
import { shellQuote } from '../explain/render.js';
import { BerthError } from '../errors.js';

export class TourInterrupted extends BerthError {
  override readonly name = 'TourInterrupted';
  constructor() {
    super('interrupted');
  }
}

export interface RunRequest {
  command: string[];
  isolation?: 'default' | 'chroot';
  hostname?: string;
  /** --cpus */
  cpus?: number;
  /** --memory, bytes */
  memory?: number;
  /** --tmpfs destinations */
  tmpfs?: string[];
  /** --rm (the default); without it the container stays for a look after its exit, and the tour removes it later. */
  rm?: boolean;
  /** A host file as its stdin (`-i ... < FILE`); /dev/null when absent. */
  stdinFile?: string;
  /**
   * Runs while the container runs (once it has exec'd its program); the container's stdin is a
   * pipe of ours, closed after this returns: a container that ends by `read` ends then.
   */
  whileRunning?: (running: RunningContainer) => Promise<void>;
}

export interface RunningContainer {
  record: ContainerRecord;
  /** Its process, as the host sees it. */
  pid: number;
}

export interface ContainerRun {
  record: ContainerRecord;
  exitCode: number;
  oomKilled: boolean;
  /** stdout and stderr as they came. */
  output: string;
  /** The --explain lines of its start: what berth did, as shell lines. */
  explain: string[];
  /** Its config.json, as the engine wrote it. */
  spec: Spec;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class TourSession {
  readonly scratch: string;
  private readonly containers = new Set<string>();
  private interruptedFlag = false;
  private readonly onInterrupt = new Set<() => void>();

  constructor(
    readonly engine: EngineService,
    /** The image every chapter runs. */
    readonly image: string,
  ) {
    this.scratch = mkdtempSync(join(tmpdir(), 'berth-tour-'));
  }

  get interrupted(): boolean {
    return this.interruptedFlag;
  }

  /** Ctrl-C: every running container of the tour is killed; what waits is woken to throw TourInterrupted. */
  interrupt(): void {
    if (this.interruptedFlag) return;
    this.interruptedFlag = true;
    for (const id of this.containers) void this.kill(id);
    for (const wake of this.onInterrupt) wake();
  }

  /** Throws TourInterrupted once the tour was interrupted. */
  check(): void {
    if (this.interruptedFlag) throw new TourInterrupted();
  }

  /** Waits `ms`, or less when interrupted (and then throws). */
  async sleep(ms: number): Promise<void> {
    await this.interruptible(sleep(ms));
  }

  /** `promise`, unless the tour is interrupted first (TourInterrupted). */
  async interruptible<T>(promise: Promise<T>): Promise<T> {
    this.check();
    let wake = () => {};
    const interrupted = new Promise<never>((_, reject) => {
      wake = () => reject(new TourInterrupted());
    });
    this.onInterrupt.add(wake);
    try {
      return await Promise.race([promise, interrupted]);
    } finally {
      this.onInterrupt.delete(wake);
    }
  }

  /** The shell words of the `berth run` (or `berth create`) a person would type for `req`. */
  runCommand(req: RunRequest, verb: 'run' | 'create' = 'run'): string {
    const flags = [
      verb === 'run' && req.rm !== false ? '--rm' : '',
      req.stdinFile !== undefined || req.whileRunning ? '-i' : '',
      '--network none',
      req.isolation === 'chroot' ? '--isolation chroot' : '',
      req.hostname ? `--hostname ${shellQuote(req.hostname)}` : '',
      req.cpus !== undefined ? `--cpus ${req.cpus}` : '',
      req.memory !== undefined ? `--memory ${req.memory / (1024 * 1024)}m` : '',
      ...(req.tmpfs ?? []).map((t) => `--tmpfs ${shellQuote(t)}`),
    ].filter(Boolean);
    const input = req.stdinFile === undefined ? '' : ` < ${shellQuote(req.stdinFile)}`;
    return `berth ${verb} ${flags.join(' ')} ${this.image} ${req.command.map(shellQuote).join(' ')}${input}`;
  }

  /** Engine.create for `req`: the container, recorded as the tour's until it is removed. */
  async create(req: RunRequest): Promise<ContainerRecord> {
    this.check();
    const record = await this.engine.create({
      image: this.image,
      command: req.command,
      env: [],
      hostname: req.hostname ?? '',
      readOnly: false,
      terminal: false,
      isolation: req.isolation ?? 'default',
      cpus: req.cpus,
      memory: req.memory,
      mounts: req.tmpfs ? parseMountFlags({ volumes: [], mounts: [], tmpfs: req.tmpfs }) : undefined,
      rm: req.rm !== false,
    });
    this.containers.add(record.id);
    return record;
  }

  /** Engine.create, then Engine.runForeground with its output and --explain lines caught. */
  async run(req: RunRequest): Promise<ContainerRun> {
    const record = await this.create(req);
    return this.start(record, req);
  }

  /** Runs a created container in the foreground of this process (as `berth run` does), to its exit. */
  async start(record: ContainerRecord, req: RunRequest): Promise<ContainerRun> {
    this.check();
    const spec = this.engine.bundleSpec(record);
    const explain: string[] = [];
    let output = '';
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        output += chunk.toString();
        done();
      },
    });
    const input = openSync(req.stdinFile ?? '/dev/null', 'r');
    const [pipeRead, pipeWrite] = req.whileRunning ? native.pipe() : [-1, -1];
    let writeEnd = pipeWrite;
    const closeStdin = () => {
      if (writeEnd >= 0) closeSync(writeEnd);
      writeEnd = -1;
    };
    try {
      const stdin = req.whileRunning ? pipeRead : input;
      const exited = this.engine.runForeground(record, (lines) => explain.push(...lines), { stdin, stdout: sink, stderr: sink });
      let done = false;
      const settled = exited.then(
        () => (done = true),
        () => (done = true),
      );
      if (req.whileRunning) {
        try {
          const pid = await this.waitRunning(record, () => done);
          if (pid !== null) await req.whileRunning({ record, pid });
          closeStdin();
        } catch (err) {
          // Interrupted, or failed while it ran: it is stopped before anything else happens.
          closeStdin();
          await this.killUntil(record.id, () => done);
          await settled;
          throw err;
        }
      }
      const exitCode = await exited;
      if (record.autoRemove) this.containers.delete(record.id);
      this.check();
      return { record, exitCode, oomKilled: record.state.oomKilled, output, explain, spec };
    } finally {
      closeStdin();
      if (pipeRead >= 0) closeSync(pipeRead);
      closeSync(input);
    }
  }

  /**
   * SIGKILLs the container until `done`: a kill sent while its process is still being made (no
   * runtime state yet) finds nothing, so it is sent again.
   */
  private async killUntil(id: string, done: () => boolean): Promise<void> {
    while (!done()) {
      await this.kill(id);
      await sleep(20);
    }
  }

  /** The host pid of the container once its program runs; null when it exited first. */
  private async waitRunning(record: ContainerRecord, exited: () => boolean): Promise<number | null> {
    for (;;) {
      this.check();
      const now = this.engine.containers.tryLoad(record.id);
      if (now?.state.status === 'running' && now.state.pid > 0) return now.state.pid;
      if (exited()) return null;
      await sleep(10);
    }
  }

  /** SIGKILL to every process of the container (its cgroup), if it runs. */
  async kill(id: string): Promise<void> {
    try {
      await this.engine.cgroup(id).kill(9);
    } catch {
      // not running (or not any more)
    }
  }

  /** Engine.remove (forced): the container, its cgroup, its network namespace, its files. */
  async remove(record: ContainerRecord): Promise<void> {
    if (!this.containers.has(record.id)) return;
    try {
      await this.engine.remove(record.id, true);
    } catch (err) {
      if (!/No such container/.test((err as Error).message)) throw err;
    }
    this.containers.delete(record.id);
  }

  /** Everything the tour made: its containers (killed first), its scratch directory. */
  async cleanUp(): Promise<string[]> {
    const problems: string[] = [];
    for (const id of [...this.containers]) {
      try {
        await this.kill(id);
        await this.engine.remove(id, true);
      } catch (err) {
        if (!/No such container/.test((err as Error).message)) problems.push(`container ${id.slice(0, 12)}: ${(err as Error).message}`);
      }
      this.containers.delete(id);
    }
    rmSync(this.scratch, { recursive: true, force: true });
    return problems;
  }
}

/** A container's id as docker shows it. */
export function shortId(record: ContainerRecord): string {
  return record.id.slice(0, 12);
}
