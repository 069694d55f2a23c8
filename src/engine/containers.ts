// The engine's containers on disk: <root>/containers/<id>/ holds container.json (written by
// rename), the bundle, the overlay's upper and work dirs and the files made for the container.
// Names are claimed as files under <root>/names/ created with O_EXCL: two `berth` processes can
// never both get one, with no lock to leave behind.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import type { ContainerMount } from './mount-flags.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited';

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** The image as the user named it, and its id (the config's digest). */
  image: string;
  imageId: string;
  command: string[];
  isolation: 'default' | 'chroot';
  /** Chain ids of the image's layers, bottom first. */
  layers: string[];
  stopSignal?: string;
  autoRemove: boolean;
  /** Its -v/--mount/--tmpfs mounts: `volume rm` refuses a volume listed here, `rm -v` removes its anonymous ones. */
  mounts?: ContainerMount[];
  state: {
    status: ContainerStatus;
    pid: number;
    exitCode: number;
    oomKilled: boolean;
    startedAt?: string;
    finishedAt?: string;
  };
}

export class ContainerStoreError extends Error {
  override readonly name = 'ContainerStoreError';
}

const NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'tender', 'vivid', 'wise', 'zen'];
const NOUNS = ['anchor', 'berth', 'buoy', 'cargo', 'dock', 'ferry', 'harbor', 'hull', 'jetty', 'keel', 'mast', 'pier', 'quay', 'rudder', 'sail', 'tide', 'wharf', 'yacht'];

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
    if (name !== undefined) {
      if (!NAME_PATTERN.test(name)) throw new ContainerStoreError(`invalid container name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      name = name.replace(/^\//, '');
      this.claimName(name, id);
    } else {
      name = this.claimGeneratedName(id);
    }
    const dir = this.containerDir(id);
    mkdirSync(dir, { mode: 0o711 });
    return { id, name, dir };
  }

  private claimName(name: string, id: string): void {
    let fd: number;
    try {
      fd = openSync(join(this.namesDir, name), 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        const holder = this.nameHolder(name);
        throw new ContainerStoreError(`the container name "/${name}" is already in use by container "${holder}"`);
      }
      throw err;
    }
    writeSync(fd, id);
    closeSync(fd);
  }

  private claimGeneratedName(id: string): string {
    for (let attempt = 0; ; attempt++) {
      const pick = (list: string[]) => list[randomBytes(1)[0] % list.length];
      const name = `${pick(ADJECTIVES)}_${pick(NOUNS)}${attempt > 8 ? randomBytes(2).readUInt16BE() : ''}`;
      try {
        this.claimName(name, id);
        return name;
      } catch (err) {
        if (!(err instanceof ContainerStoreError)) throw err;
      }
    }
  }

  private nameHolder(name: string): string {
    try {
      return readFileSync(join(this.namesDir, name), 'utf8');
    } catch {
      return '?';
    }
  }

  save(record: ContainerRecord): void {
    writeFileAtomic(join(this.containerDir(record.id), 'container.json'), JSON.stringify(record, null, 2));
  }

  load(id: string): ContainerRecord {
    return JSON.parse(readFileSync(join(this.containerDir(id), 'container.json'), 'utf8')) as ContainerRecord;
  }

  /** Every container with a record (a directory without one is a create that died: see `orphans`). */
  list(): ContainerRecord[] {
    const out: ContainerRecord[] = [];
    for (const id of this.ids()) {
      try {
        out.push(this.load(id));
      } catch {
        // being created right now, or a create that died before its record: not a container yet
      }
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  ids(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      return [];
    }
  }

  /** A container by name, full id or unique id prefix, as docker finds them. */
  find(ref: string): ContainerRecord {
    const name = ref.replace(/^\//, '');
    const byName = this.nameHolder(name);
    if (byName !== '?') return this.load(byName);
    const matches = this.ids().filter((id) => id.startsWith(ref));
    if (matches.length === 1) return this.load(matches[0]);
    if (matches.length > 1) throw new ContainerStoreError(`multiple containers match the id prefix ${ref}: be more specific`);
    throw new ContainerStoreError(`No such container: ${ref}`);
  }

  /** Removes the container's directory and frees its name. */
  remove(record: Pick<ContainerRecord, 'id' | 'name'>): void {
    rmSync(this.containerDir(record.id), { recursive: true, force: true });
    if (this.nameHolder(record.name) === record.id) {
      try {
        unlinkSync(join(this.namesDir, record.name));
      } catch {
        // already gone
      }
    }
  }
}
