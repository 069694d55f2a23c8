// What the service remembers between requests, as dockerd does in memory: clients attached to a
// container that has not started yet (they are connected by its start, between the runtime's
// create and start, so they miss no output), the exit status of each container it started (a
// `wait` that arrives after a quick exit, or after --rm removed the container, still gets it),
// and exec instances.
import type { EngineService } from '../engine/service.js';

/** How long an exit status stays for a late `wait`. */
const EXIT_KEPT_MS = 60_000;

export interface ExecInstance {
  id: string;
  containerId: string;
  command: string[];
  env: string[];
  user?: string;
  workdir?: string;
  tty: boolean;
  attachStdin: boolean;
  attachStdout: boolean;
  attachStderr: boolean;
  running: boolean;
  pid: number;
  exitCode: number | null;
  /** Its pty master while it runs with a terminal (for resize). */
  console?: number;
}

export class ServiceState {
  private readonly pending = new Map<string, Set<() => Promise<void>>>();
  private readonly exits = new Map<string, { startedAt: string; code: number; consumed: boolean }>();
  readonly execs = new Map<string, ExecInstance>();
  /** Exit watches still held: released when the service stops. */
  private readonly held = new Set<() => void>();

  constructor(private readonly engine: EngineService) {}

  /** An attach to a container not running yet: `connect` runs at its start. The returned function withdraws it. */
  awaitStart(id: string, connect: () => Promise<void>): () => void {
    let set = this.pending.get(id);
    if (!set) this.pending.set(id, (set = new Set()));
    set.add(connect);
    return () => {
      set.delete(connect);
      if (set.size === 0 && this.pending.get(id) === set) this.pending.delete(id);
    };
  }

  /**
   * Starts a container: the pending attaches connected between the runtime's create and start,
   * and its exit watched from before the start, kept for a late `wait`.
   */
  async start(id: string): Promise<void> {
    const watch = this.engine.watchExit(id);
    const release = () => {
      if (this.held.delete(release)) watch.release();
    };
    this.held.add(release);
    let record;
    try {
      record = await this.engine.start(id, {
        beforeStart: async () => {
          const waiting = [...(this.pending.get(id) ?? [])];
          this.pending.delete(id);
          for (const connect of waiting) await connect();
        },
      });
    } catch (err) {
      release();
      throw err;
    }
    const startedAt = record.state.startedAt ?? '';
    void watch
      .wait()
      .then((code) => {
        this.exits.set(id, { startedAt, code, consumed: false });
        setTimeout(() => {
          if (this.exits.get(id)?.startedAt === startedAt) this.exits.delete(id);
        }, EXIT_KEPT_MS).unref();
      })
      .catch(() => undefined) // the container's lock or record unreadable: a late wait falls back to the store
      .finally(() => setTimeout(release, EXIT_KEPT_MS).unref());
  }

  /** The service stops: the exit files it kept for late waits go. */
  close(): void {
    for (const release of [...this.held]) release();
  }

  /** The status of the exit that ended the run started at `startedAt` (or the last one, for a removed container), once. */
  takeExit(id: string, startedAt?: string): number | undefined {
    const exit = this.exits.get(id);
    if (!exit || exit.consumed || (startedAt !== undefined && exit.startedAt !== startedAt)) return undefined;
    exit.consumed = true;
    return exit.code;
  }
}
