// The engine's containers on disk: <root>/containers/<id>/ holds container.json (written by
// rename), the bundle, the overlay's upper and work dirs and the files made for the container.
// Names are claimed as files under <root>/names/ made by link(), which fails when the name exists:
// two `berth` processes can never both get one, with no lock to leave behind. A container's directory is made before its
// name is claimed, under a temporary name saying who makes it, and appears under its id with a
// file naming its creator (`pid starttime`): what a `berth` killed before the container's first
// record leaves is then recognisable at every step, and `list` removes it.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { holderAlive, holderId, withLockAsync } from '../fs/lock.js';
import type { RestartPolicy } from './restart-policy.js';
import type { ContainerMount } from './mount-flags.js';
import type { SecurityOptions } from './security.js';
import type { HostOptions } from './host-options.js';
import { BerthError, type ErrorKind, isMissing } from '../errors.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** The image as the user named it, and its id (the config's digest). */
  image: string;
  imageId: string;
  command: string[];
  /**
   * The container's own config as docker keeps it (its Config): the entrypoint and command it
   * runs, the image's env with -e over it, -w, -u. `commit` makes the new image's config from it.
   * Absent in records made before it existed.
   */
  config?: { Entrypoint: string[] | null; Cmd: string[] | null; Env: string[]; WorkingDir?: string; User?: string };
  isolation: 'default' | 'chroot';
  /** Chain ids of the image's layers, bottom first. */
  layers: string[];
  stopSignal?: string;
  autoRemove: boolean;
  labels: Record<string, string>;
  restartPolicy: RestartPolicy;
  /** Times the restart policy brought it back since its last start by a user. */
  restartCount: number;
  /** Runs under conmon (detached, -it, a restart policy) rather than in a `berth run` process. */
  monitored: boolean;
  tty: boolean;
  openStdin: boolean;
  /** stdin ends with the first attach client's (`run -i` without a tty, attached), as docker's StdinOnce. */
  stdinOnce: boolean;
  /** --init: tini as PID 1. */
  init: boolean;
  /** --device, --sysctl, --ulimit, --group-add, --shm-size, ... as given (inspect's HostConfig); absent before they existed. */
  hostOptions?: HostOptions;
  /** Its -v/--mount/--tmpfs mounts: `volume rm` refuses a volume listed here, `rm -v` removes its anonymous ones. */
  mounts?: ContainerMount[];
  /** --security-opt, --cap-add/--cap-drop, --privileged as given (inspect's HostConfig shows them). */
  security?: SecurityOptions;
  state: {
    status: ContainerStatus;
    pid: number;
    exitCode: number;
    oomKilled: boolean;
    startedAt?: string;
    finishedAt?: string;
    /** A user's stop or kill: restart policies leave it stopped. */
    stoppedByUser?: boolean;
    /** `pid starttime` of the `berth run` that runs it in the foreground (it records the exit itself). */
    foreground?: string;
    /** Why it could not start, or why its exit status is unknown. */
    error?: string;
  };
}

export class ContainerStoreError extends BerthError {
  static override readonly kind: ErrorKind = 'conflict';
  override readonly name = 'ContainerStoreError';
}

/** In a container's directory: the `berth` process that made it (what matters until its first record). */
const CREATOR_FILE = 'creator';
/** A container directory being made: `.making-PID-STARTTIME-ID`, renamed to ID once its creator file is in. */
const MAKING_PREFIX = '.making-';
/** A container directory being removed: `.removing-ID` (what a removal killed halfway leaves, `list` removes). */
const REMOVING_PREFIX = '.removing-';
/** In a container's directory for the moment of claiming a name: linked as the name's file. */
const NAME_CLAIM_FILE = 'name-claim';

const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'tender', 'vivid', 'wise', 'zen'];
const NOUNS = ['anchor', 'berth', 'buoy', 'cargo', 'dock', 'ferry', 'harbor', 'hull', 'jetty', 'keel', 'mast', 'pier', 'quay', 'rudder', 'sail', 'tide', 'wharf', 'yacht'];

/** A name as docker accepts it, without its optional leading slash. */
function validName(name: string): string {
  if (!NAME_PATTERN.test(name)) throw new ContainerStoreError(`invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  return name.replace(/^\//, '');
}

export class ContainerStore {
  readonly dir: string;
  private readonly namesDir: string;

  constructor(readonly root: string) {
    this.dir = join(root, 'containers');
    this.namesDir = join(root, 'names');
  }

  containerDir(id: string): string {
    return join(this.dir, id);
  }

  /** A new id and its directory, with the name claimed (given, or generated like docker's). */
  allocate(name?: string): { id: string; name: string; dir: string } {
    mkdirSync(this.dir, { recursive: true, mode: 0o711 });
    mkdirSync(this.namesDir, { recursive: true, mode: 0o700 });
    const id = randomBytes(32).toString('hex');
    const dir = this.containerDir(id);
    const making = join(this.dir, `${MAKING_PREFIX}${holderId().replace(' ', '-')}-${id}`);
    mkdirSync(making, { mode: 0o711 });
    writeFileSync(join(making, CREATOR_FILE), holderId());
    renameSync(making, dir);
    try {
      name = name === undefined ? this.claimGeneratedName(id) : this.claimName(validName(name), id);
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
    return { id, name, dir };
  }

  /**
   * The name's file appears complete or not at all: the id is written to a file in the container's
   * directory, which is then hard-linked as the name (link fails if the name exists, as O_EXCL does).
   */
  private claimName(name: string, id: string): string {
    const claim = join(this.containerDir(id), NAME_CLAIM_FILE);
    writeFileSync(claim, id, { mode: 0o600 });
    try {
      linkSync(claim, join(this.namesDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        const holder = this.nameHolder(name);
        throw new ContainerStoreError(`the container name "/${name}" is already in use by container "${holder}"`);
      }
      throw err;
    } finally {
      rmSync(claim, { force: true });
    }
    return name;
  }

  private claimGeneratedName(id: string): string {
    for (let attempt = 0; ; attempt++) {
      const pick = (list: string[]) => list[randomBytes(1)[0] % list.length];
      const name = `${pick(ADJECTIVES)}_${pick(NOUNS)}${attempt > 8 ? randomBytes(2).readUInt16BE() : ''}`;
      try {
        return this.claimName(name, id);
      } catch (err) {
        if (!(err instanceof ContainerStoreError)) throw err;
      }
    }
  }

  private nameHolder(name: string): string {
    try {
      return readFileSync(join(this.namesDir, name), 'utf8');
    } catch (err) {
      if (!isMissing(err)) throw err;
      return '?'; // released meanwhile: no holder to name
    }
  }

  save(record: ContainerRecord): void {
    writeFileAtomic(join(this.containerDir(record.id), 'container.json'), JSON.stringify(record, null, 2));
  }

  /**
   * Runs `fn` holding the container's lock: the berth commands and the monitor's exit command
   * that change one container's state (start, stop, the exit's bookkeeping, rm) take turns.
   * Null when the container is gone (removed while we waited).
   */
  async locked<T>(id: string, fn: (record: ContainerRecord) => Promise<T>): Promise<T | null> {
    let acquired = false;
    try {
      return await withLockAsync(join(this.containerDir(id), 'lock'), async () => {
        acquired = true;
        const record = this.tryLoad(id);
        return record ? await fn(record) : null;
      });
    } catch (err) {
      if (!acquired && (err as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed while we waited
      throw err;
    }
  }

  tryLoad(id: string): ContainerRecord | null {
    try {
      return this.load(id);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return null; // removed, or not recorded yet (container.json is written by rename: whole or not there)
    }
  }

  /** Gives the container a new name: the new one claimed first, the old one freed after. */
  rename(record: ContainerRecord, newName: string): void {
    newName = validName(newName);
    this.claimName(newName, record.id);
    const old = record.name;
    record.name = newName;
    this.save(record);
    this.releaseName(old, record.id);
  }

  load(id: string): ContainerRecord {
    return JSON.parse(readFileSync(join(this.containerDir(id), 'container.json'), 'utf8')) as ContainerRecord;
  }

  /** Every container with a record; what a create that died left (see `abandoned`) is removed on the way. */
  list(): ContainerRecord[] {
    this.removeAbandonedTemporaries();
    const out: ContainerRecord[] = [];
    for (const id of this.ids()) {
      try {
        out.push(this.load(id));
      } catch {
        // being created right now (not a container yet), or a create that died before its record
        if (this.abandoned(id)) this.removeAbandoned(id);
      }
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** A directory without a record whose creator is gone: a `berth create`/`run` killed before its first save. */
  private abandoned(id: string): boolean {
    const dir = this.containerDir(id);
    try {
      readFileSync(join(dir, 'container.json'));
      return false; // written meanwhile
    } catch {
      // still no record
    }
    try {
      return !holderAlive(readFileSync(join(dir, CREATOR_FILE), 'utf8'));
    } catch {
      return false; // removed meanwhile (every directory under an id has its creator file)
    }
  }

  /** Directories still under their temporary name whose creator is gone, and removals killed halfway. */
  private removeAbandonedTemporaries(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir).filter((n) => n.startsWith(MAKING_PREFIX) || n.startsWith(REMOVING_PREFIX));
    } catch (err) {
      if (!isMissing(err)) throw err;
      return; // no container made yet
    }
    for (const name of names) {
      const [pid, startTime] = name.startsWith(MAKING_PREFIX) ? name.slice(MAKING_PREFIX.length).split('-') : [];
      // A removal still under way is finished alongside its own process: both delete, neither adds.
      if (pid !== undefined && holderAlive(`${pid} ${startTime}`)) continue;
      try {
        rmSync(join(this.dir, name), { recursive: true, force: true });
      } catch {
        // left for a later look rather than failing the listing
      }
    }
  }

  /** An abandoned directory and the name it may have claimed. Its create never started a process
   *  (a container runs only once recorded): files are all there is. */
  private removeAbandoned(id: string): void {
    for (const name of this.namesHeldBy(id)) this.releaseName(name, id);
    try {
      rmSync(this.containerDir(id), { recursive: true, force: true });
    } catch {
      // a volume's copy-up view still mounted in it: left for a later look rather than failing ps
    }
  }

  private namesHeldBy(id: string): string[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.namesDir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no name claimed yet
    }
    return names.filter((name) => this.nameHolder(name) === id);
  }

  ids(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no container made yet
    }
  }

  /** A container by name, full id or unique id prefix, as docker finds them. */
  find(ref: string): ContainerRecord {
    // Only a name or an id prefix is looked up: `../x` (an API path's %2F) never reaches the names dir.
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref)) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
    const name = ref.replace(/^\//, '');
    const byName = this.nameHolder(name);
    if (byName !== '?') return this.load(byName);
    const matches = this.ids().filter((id) => id.startsWith(ref));
    if (matches.length === 1) return this.load(matches[0]);
    if (matches.length > 1) throw new ContainerStoreError(`multiple containers match the id prefix ${ref}: be more specific`);
    throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
  }

  /**
   * Removes the container's directory and frees its name. The directory is renamed away first: a
   * process that takes the container's lock meanwhile (the monitor's exit command, as `rm -f` kills
   * the container) then finds no container, rather than making its lock file in a directory being
   * deleted (rmdir's ENOTEMPTY).
   */
  remove(record: Pick<ContainerRecord, 'id' | 'name'>): void {
    const doomed = join(this.dir, `${REMOVING_PREFIX}${record.id}`);
    try {
      renameSync(this.containerDir(record.id), doomed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    rmSync(doomed, { recursive: true, force: true });
    this.releaseName(record.name, record.id);
  }

  private releaseName(name: string, id: string): void {
    if (this.nameHolder(name) !== id) return;
    try {
      unlinkSync(join(this.namesDir, name));
    } catch {
      // already gone
    }
  }
}
