// The runtime's state dir: one directory per container under the root (/run/berth-runtime by
// default), holding state.json (written atomically) and, until start, the exec FIFO.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { writeFileAtomic } from '../fs/atomic.js';
import { join } from 'node:path';
import type { Spec } from '../oci/runtime-spec.js';
import { BerthError, isMissing } from '../errors.js';

/** podman passes no --root, so the default is fixed, never taken from the environment. */
export const DEFAULT_ROOT = '/run/berth-runtime';

/** What the runtime remembers of a container between its commands. */
export interface ContainerRecord {
  id: string;
  bundle: string;
  rootfs: string;
  pid: number;
  /** /proc/PID/stat's start time: a recycled pid is not our container. */
  pidStartTime: string;
  /** ISO 8601. */
  created: string;
  config: Spec;
  /** Namespace files of the container's init, by spec type, for exec and hooks. */
  namespaces: Record<string, string>;
  /** Its cgroup, cgroupfs-relative (`/berth/<id>`). */
  cgroupPath: string;
  /**
   * `dev:ino` of the executable of the init process while it waits on the exec FIFO (the runtime's
   * own, before its execve): a different one means it has exec'd, whatever the FIFO still says.
   */
  waitingExe?: string;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_+.-]*$/;

export class StateError extends BerthError {
  override readonly name = 'StateError';
}

export class StateDir {
  constructor(readonly root: string = DEFAULT_ROOT) {}

  dir(id: string): string {
    if (!ID_PATTERN.test(id) || id.length > 1024) throw new StateError(`invalid container id ${JSON.stringify(id)}: use letters, digits and _+.-`);
    return join(this.root, id);
  }

  fifo(id: string): string {
    return join(this.dir(id), 'exec.fifo');
  }

  /** Claims the id: mkdir is atomic, so two creates of one id cannot both succeed. */
  claim(id: string): string {
    const dir = this.dir(id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(dir, { mode: 0o711 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new StateError(`container ${id} already exists`);
      throw err;
    }
    return dir;
  }

  /** Writes the record atomically; returns the JSON written. */
  save(record: ContainerRecord): string {
    const json = JSON.stringify(record);
    writeFileAtomic(join(this.dir(record.id), 'state.json'), json, 0o600);
    return json;
  }

  load(id: string): ContainerRecord {
    let text: string;
    try {
      text = readFileSync(join(this.dir(id), 'state.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new StateError(`container ${id} does not exist`);
      throw err;
    }
    return JSON.parse(text) as ContainerRecord;
  }

  /** Whether the id has a directory here, saved or not yet. */
  exists(id: string): boolean {
    return existsSync(this.dir(id));
  }

  /**
   * A claimed directory with no state.json: a create killed before its first save (at most the
   * temp file of that save is in it; nothing else exists yet). Removed; false when there is none.
   */
  removeUnsaved(id: string): boolean {
    const dir = this.dir(id);
    if (!existsSync(dir) || existsSync(join(dir, 'state.json'))) return false;
    rmSync(dir, { recursive: true, force: true });
    return true;
  }

  remove(id: string): void {
    rmSync(this.dir(id), { recursive: true, force: true });
  }

  ids(): string[] {
    try {
      return readdirSync(this.root, { withFileTypes: true })
        .filter((e) => e.isDirectory() && ID_PATTERN.test(e.name))
        .map((e) => e.name)
        .sort();
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no container created under this root yet
    }
  }
}
