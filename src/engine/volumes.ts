// Named and anonymous volumes: <root>/volumes/<name>/ holds _data (what containers mount) and
// volume.json (docker's `volume inspect` shape). A volume is made whole in a temp dir and renamed
// into place: two `berth` processes creating one name get the same volume, never half of one.
import { recordEvent } from './events.js';
import { randomBytes } from 'node:crypto';
import { lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, utimesSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { writeFileAtomic } from '../fs/atomic.js';
import type { Mount } from '../oci/runtime-spec.js';
import { resolveInRoot } from '../runtime/root-path.js';
import { walkTree, writeDirectoryTar } from '../storage/archive.js';
import { mountOverlay } from '../storage/overlay.js';
import { applyLayer } from '../storage/unpack.js';
import { TarWriter } from '../tar/index.js';
import type { ContainerRecord } from './containers.js';
import { VOLUME_NAME, type ContainerMount, type MountRequest } from './mount-flags.js';
import { BerthError, type ErrorKind, isMissing } from '../errors.js';

/** `berth volume inspect`'s JSON, docker's fields. */
export interface VolumeRecord {
  CreatedAt: string;
  Driver: 'local';
  Labels: Record<string, string>;
  Mountpoint: string;
  Name: string;
  Options: Record<string, string> | null;
  Scope: 'local';
}

/** The label docker (23+) puts on the volumes it makes for `-v /path`: `volume prune` without -a removes only those. */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export class VolumeError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'VolumeError';
}

export class VolumeStore {
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = join(root, 'volumes');
  }

  dataDir(name: string): string {
    return join(this.dir, name, '_data');
  }

  /**
   * The volume `name` (a new anonymous one, 64 hex digits, when not given), made unless it exists
   * (docker's `volume create` of an existing name returns it). `created` says which.
   */
  create(name: string | undefined, labels: Record<string, string> = {}): { volume: VolumeRecord; created: boolean } {
    if (name !== undefined && !VOLUME_NAME.test(name)) {
      throw new VolumeError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`);
    }
    const volumeName = name ?? randomBytes(32).toString('hex');
    const existing = this.find(volumeName);
    if (existing) return { volume: existing, created: false };
    mkdirSync(this.dir, { recursive: true, mode: 0o701 });
    const temp = join(this.dir, `.new-${randomBytes(8).toString('hex')}`);
    const volume: VolumeRecord = {
      CreatedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      Driver: 'local',
      Labels: name === undefined ? { ...labels, [ANONYMOUS_LABEL]: '' } : labels,
      Mountpoint: this.dataDir(volumeName),
      Name: volumeName,
      Options: null,
      Scope: 'local',
    };
    try {
      mkdirSync(temp, { mode: 0o701 });
      mkdirSync(join(temp, '_data'), { mode: 0o755 });
      writeFileAtomic(join(temp, 'volume.json'), JSON.stringify(volume, null, 2));
      renameSync(temp, join(this.dir, volumeName));
    } catch (err) {
      rmSync(temp, { recursive: true, force: true });
      const code = (err as NodeJS.ErrnoException).code;
      // Another process made it between our look and our rename: theirs is the volume.
      if (code === 'ENOTEMPTY' || code === 'EEXIST') return { volume: this.get(volumeName), created: false };
      throw err;
    }
    recordEvent(this.root, 'volume', 'create', volumeName, { driver: 'local' });
    return { volume, created: true };
  }

  find(name: string): VolumeRecord | null {
    if (!VOLUME_NAME.test(name)) return null;
    try {
      return JSON.parse(readFileSync(join(this.dir, name, 'volume.json'), 'utf8')) as VolumeRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  get(name: string): VolumeRecord {
    const v = this.find(name);
    if (!v) throw new VolumeError(`no such volume: ${name}`, { kind: 'not-found' });
    return v;
  }

  list(): VolumeRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => VOLUME_NAME.test(n));
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no volume made yet
    }
    return names.flatMap((n) => this.find(n) ?? []).sort((a, b) => a.Name.localeCompare(b.Name));
  }

  /** The containers (any state) that mount the volume. */
  usersOf(name: string, containers: ContainerRecord[]): ContainerRecord[] {
    return containers.filter((c) => (c.mounts ?? []).some((m) => m.type === 'volume' && m.name === name));
  }

  /** Removes a volume no container uses; renamed aside first so that no one sees half of it. */
  remove(name: string, containers: ContainerRecord[]): void {
    this.get(name);
    const users = this.usersOf(name, containers);
    if (users.length) throw new VolumeError(`remove ${name}: volume is in use - [${users.map((c) => `${c.id.slice(0, 12)} (${c.name})`).join(', ')}]`, { kind: 'conflict' });
    const aside = join(this.dir, `.removing-${randomBytes(8).toString('hex')}`);
    renameSync(join(this.dir, name), aside);
    rmSync(aside, { recursive: true, force: true });
    recordEvent(this.root, 'volume', 'destroy', name, { driver: 'local' });
  }

  /** Bytes of the files in a volume (`volume prune`'s reclaimed space). */
  size(name: string): number {
    let total = 0;
    walkTree(this.dataDir(name), (_rel, st) => {
      if (st.isFile()) total += st.size;
    });
    return total;
  }

  /**
   * Removes the anonymous volumes of a container that is gone (`rm -v`, `--rm`); `containers` are
   * the ones left, one of which may still use such a volume (`--volumes-from` in docker).
   */
  removeAnonymousOf(mounts: ContainerMount[] | undefined, containers: ContainerRecord[]): void {
    for (const m of mounts ?? []) {
      if (m.type !== 'volume' || !m.anonymous || !m.name || !this.find(m.name)) continue;
      if (this.usersOf(m.name, containers).length === 0) this.remove(m.name, containers);
    }
  }

  /** Temp dirs of a `create` or `remove` that died half way. */
  /** `volume prune`: the unused anonymous volumes (all unused ones with `all`) removed; their names and bytes. */
  prune(containers: ContainerRecord[], all: boolean): { removed: string[]; reclaimed: number } {
    this.sweep();
    const removed: string[] = [];
    let reclaimed = 0;
    for (const v of this.list()) {
      if (!all && !(ANONYMOUS_LABEL in v.Labels)) continue;
      if (this.usersOf(v.Name, containers).length) continue;
      const size = this.size(v.Name);
      this.remove(v.Name, containers);
      removed.push(v.Name);
      reclaimed += size;
    }
    return { removed, reclaimed };
  }

  sweep(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return; // no volume made yet
    }
    for (const n of names) if (/^\.(new|removing)-/.test(n)) rmSync(join(this.dir, n), { recursive: true, force: true });
  }
}

/** What `create` needs to see the image's files: the container's lower dirs (top first) mounted read-only for a moment. */
export interface ImageView {
  lowerDirs: string[];
  linkDir: string;
  /** An empty directory to mount the view on (made and removed here). */
  mountPoint: string;
}

/**
 * The OCI mounts of a container's -v/--mount/--tmpfs, with its volumes made (anonymous ones too)
 * and copied up from the image where docker would: a volume still empty, mounted on a directory
 * that the image has, unless nocopy. On failure, the anonymous volumes made here are removed.
 */
export async function prepareMounts(volumes: VolumeStore, requests: MountRequest[], view: ImageView): Promise<{ mounts: Mount[]; recorded: ContainerMount[] }> {
  const recorded: ContainerMount[] = [];
  const copyUps: Array<{ name: string; target: string }> = [];
  try {
    for (const r of requests) {
      if (r.type === 'bind') {
        // -v's missing host directory, made now as dockerd makes it (root's, 0755).
        if (r.createSource) mkdirSync(r.source, { recursive: true, mode: 0o755 });
        recorded.push({ type: 'bind', source: r.source, destination: r.target, rw: !r.readonly });
      } else if (r.type === 'tmpfs') {
        recorded.push({ type: 'tmpfs', source: '', destination: r.target, rw: !r.options.includes('ro') });
      } else {
        const { volume, created } = volumes.create(r.name);
        recorded.push({ type: 'volume', name: volume.Name, anonymous: r.name === undefined && created, source: volume.Mountpoint, destination: r.target, rw: !r.readonly });
        if (!r.noCopy && readdirSync(volume.Mountpoint).length === 0) copyUps.push({ name: volume.Name, target: r.target });
      }
    }
    if (copyUps.length) await copyUpFromImage(volumes, copyUps, view);
  } catch (err) {
    volumes.removeAnonymousOf(recorded, []);
    throw err;
  }
  const mounts = requests.map((r, i): Mount => {
    if (r.type === 'tmpfs') return { destination: r.target, type: 'tmpfs', source: 'tmpfs', options: r.options };
    const propagation = r.type === 'bind' ? r.propagation : 'rprivate';
    return { destination: r.target, type: 'bind', source: recorded[i].source, options: ['rbind', r.readonly ? 'ro' : 'rw', propagation] };
  });
  // Parents before children, as docker mounts them: `-v a:/data/sub` after `-v b:/data`.
  const depth = (m: Mount) => m.destination.split('/').length;
  mounts.sort((a, b) => depth(a) - depth(b));
  return { mounts, recorded };
}

/** The image's content at each target copied into its (empty) volume, through one read-only overlay of the layers. */
async function copyUpFromImage(volumes: VolumeStore, copyUps: Array<{ name: string; target: string }>, view: ImageView): Promise<void> {
  mkdirSync(view.mountPoint);
  try {
    const mount = mountOverlay({ lowerDirs: view.lowerDirs, target: view.mountPoint, linkDir: view.linkDir });
    try {
      for (const { name, target } of copyUps) {
        // Resolved with the view as "/": a symlink in the image cannot make the copy read the host.
        const source = resolveInRoot(view.mountPoint, target);
        let st;
        try {
          st = lstatSync(source);
        } catch {
          continue; // not in the image: nothing to copy
        }
        if (!st.isDirectory() || readdirSync(source).length === 0) continue;
        await copyUpInto(volumes, name, source);
      }
    } finally {
      mount.unmount({ detach: true });
    }
  } finally {
    rmSync(view.mountPoint, { recursive: true, force: true });
  }
}

/**
 * One directory of the image into a volume: a tar of it (the archiver used by export) applied by
 * the layer applier into a private temp dir, whose entries are then renamed into _data. _data
 * itself is never replaced (a running container may have it mounted); an entry another container
 * put there meanwhile stays, ours goes.
 */
async function copyUpInto(volumes: VolumeStore, name: string, source: string): Promise<void> {
  const data = volumes.dataDir(name);
  const temp = join(volumes.dir, name, `.copyup-${randomBytes(8).toString('hex')}`);
  mkdirSync(temp, { mode: 0o700 });
  try {
    const pipe = new PassThrough();
    const failed = (err: unknown) => {
      pipe.destroy(err as Error);
      throw err;
    };
    await Promise.all([writeDirectoryTar(source, new TarWriter(pipe)).catch(failed), applyLayer(pipe, temp, { preserveOwners: true }).catch(failed)]);
    for (const entry of readdirSync(temp)) {
      try {
        renameSync(join(temp, entry), join(data, entry));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    }
    // The directory itself as the image has it (docker copies its owner and mode too).
    const st = lstatSync(source);
    lchownSync(data, st.uid, st.gid);
    chmodSync(data, st.mode & 0o7777);
    utimesSync(data, st.atime, st.mtime);
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}
