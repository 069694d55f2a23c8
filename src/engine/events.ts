// Docker's events, daemonless: each operation that changes a container, image, network or volume
// appends one docker-shaped record (Type, Action, Actor{ID, Attributes}, scope, time, timeNano) as
// one JSON line to <root>/events/events.log, opened with O_APPEND so that the lines of several
// berth processes never mix. The log is bounded: past MAX_LOG_BYTES it is renamed to events.log.1
// (the one older generation kept) and a new one starts. `berth events` and `GET /events` read
// what is there (since/until) and follow what comes, as dockerd serves its in-memory buffer.
import { appendFileSync, closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { BerthError, errnoCodeOf, isMissing, type ErrorKind } from '../errors.js';
import { tryAcquireLock } from '../fs/lock.js';
import { labelMatches } from './container-list.js';

export type EventType = 'container' | 'image' | 'network' | 'volume';

export interface EngineEvent {
  /** docker's older fields, still sent for containers and images: the action, the actor, its image. */
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Seconds since the epoch. */
  time: number;
  /** Nanoseconds since the epoch. */
  timeNano: number;
}

/** Past this size the log is rotated: about 4,000 events of a container's life, twice kept. */
export const MAX_LOG_BYTES = 1 << 20;

export class EventFilterError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'EventFilterError';
}

export function eventsDir(root: string): string {
  return join(root, 'events');
}

function logPath(root: string): string {
  return join(eventsDir(root), 'events.log');
}

/** Nanoseconds since the epoch, rising within the process (two events of one operation stay in order). */
let lastNano = 0;
function nowNano(): number {
  const ns = Date.now() * 1e6 + Number(process.hrtime.bigint() % 1_000_000n);
  lastNano = ns > lastNano ? ns : lastNano + 1024; // 1024: above a double's resolution at this size
  return lastNano;
}

/**
 * Appends an event. Recording it never fails the operation that did the thing (a full disk must
 * not stop a container from stopping): a write that fails loses the event only.
 */
export function recordEvent(root: string, type: EventType, action: string, id: string, attributes: Record<string, string> = {}): void {
  const timeNano = nowNano();
  const event: EngineEvent = {
    ...(type === 'container' ? { status: action, id, from: attributes.image ?? '' } : type === 'image' ? { status: action, id } : {}),
    Type: type,
    Action: action,
    Actor: { ID: id, Attributes: attributes },
    scope: 'local',
    time: Math.floor(timeNano / 1e9),
    timeNano,
  };
  const path = logPath(root);
  try {
    mkdirSync(eventsDir(root), { recursive: true, mode: 0o700 });
    appendFileSync(path, JSON.stringify(event) + '\n', { mode: 0o600 });
    if (statSync(path).size > MAX_LOG_BYTES) rotate(root);
  } catch {
    // The event is lost, the operation goes on (see above).
  }
}

/**
 * events.log → events.log.1, under a lock so that two writers past the limit rotate once (the
 * size checked again under it); a writer that finds the lock taken leaves the rotation to its holder.
 */
function rotate(root: string): void {
  const path = logPath(root);
  const release = tryAcquireLock(join(eventsDir(root), 'rotate.lock'));
  if (!release) return;
  try {
    if (statSync(path).size > MAX_LOG_BYTES) renameSync(path, `${path}.1`);
  } finally {
    release();
  }
}

/** What a container's events name of it. */
export interface ContainerActor {
  id: string;
  name: string;
  image: string;
  labels?: Record<string, string>;
}

/** A container's event: its labels, image and name as attributes (docker's), then `extra`. */
export function recordContainerEvent(root: string, record: ContainerActor, action: string, extra: Record<string, string> = {}): void {
  recordEvent(root, 'container', action, record.id, { ...(record.labels ?? {}), image: record.image, name: record.name, ...extra });
}

const FILTER_KEYS = new Set(['container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'service', 'type', 'volume', 'config', 'secret']);

/** `busybox:1` → `busybox`; a digest or a registry's port stays. */
function stripTag(name: string): string {
  const at = name.indexOf('@');
  if (at >= 0) return name.slice(0, at);
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/**
 * docker's event filters (daemon/events/filter.go): the values of one key OR'ed, the keys AND'ed;
 * container, network and volume match the actor's id by prefix or its name; image the image's id
 * or name with or without its tag; label every label given; event the action (exec_create,
 * exec_start and health_status by prefix: their actions carry the command).
 */
export function eventFilter(pairs: [string, string][]): (e: EngineEvent) => boolean {
  const values = new Map<string, string[]>();
  for (const [key, value] of pairs) {
    if (!FILTER_KEYS.has(key)) throw new EventFilterError(`Invalid filter '${key}'`);
    values.set(key, [...(values.get(key) ?? []), value]);
  }
  const exact = (key: string, ...sources: string[]) => !values.has(key) || values.get(key)!.some((v) => sources.includes(v));
  const fuzzy = (key: string, ...sources: string[]) => !values.has(key) || values.get(key)!.some((v) => sources.some((s) => s !== '' && (s === v || s.startsWith(v))));
  const byName = (type: EventType, e: EngineEvent) => fuzzy(type, e.Actor.ID, e.Actor.Attributes.name ?? '');
  const fuzzyEvent = (values.get('event') ?? []).some((v) => ['exec_create', 'exec_start', 'health_status'].includes(v));
  return (e) => {
    const attrs = e.Actor.Attributes;
    const imageName = (e.Type === 'image' ? attrs.name : attrs.image) ?? '';
    return (
      (fuzzyEvent ? fuzzy('event', e.Action) : exact('event', e.Action)) &&
      exact('type', e.Type) &&
      exact('scope', e.scope) &&
      !values.has('daemon') &&
      byName('container', e) &&
      byName('network', e) &&
      byName('volume', e) &&
      exact('image', e.Actor.ID, imageName, stripTag(e.Actor.ID), stripTag(imageName)) &&
      !['plugin', 'node', 'service', 'secret', 'config'].some((k) => values.has(k)) &&
      (values.get('label') ?? []).every((l) => labelMatches(attrs, l))
    );
  };
}

function parseLines(text: string): EngineEvent[] {
  const out: EngineEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      out.push(JSON.parse(line) as EngineEvent);
    } catch {
      // A line cut by a crash (or a full disk) mid-write: skipped, the next one is whole.
    }
  }
  return out;
}

function readIfThere(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return '';
  }
}

export interface EventStreamOptions {
  /** Events at or after this time, ms since the epoch (fractions allowed); absent: none of the past (unless `until`). */
  since?: number;
  /** Events at or before this time; the stream ends then. Absent: it follows until `signal` aborts. */
  until?: number;
  filter: (e: EngineEvent) => boolean;
  onEvent: (e: EngineEvent) => void;
  signal?: AbortSignal;
}

/**
 * The events of the log, as dockerd answers /events: with `since` or `until` the past ones in that
 * window first; then, unless `until` has passed, the new ones as they come, until `until` or
 * until `signal` aborts.
 */
export async function streamEvents(root: string, opts: EventStreamOptions): Promise<void> {
  const inWindow = (e: EngineEvent) => (opts.since === undefined || e.timeNano / 1e6 >= opts.since) && (opts.until === undefined || e.timeNano / 1e6 <= opts.until);
  const deliver = (e: EngineEvent) => {
    if (inWindow(e) && opts.filter(e)) opts.onEvent(e);
  };
  mkdirSync(eventsDir(root), { recursive: true, mode: 0o700 });
  const path = logPath(root);
  // The current file held open from here on, so that a rotation never loses what follows.
  let fd = openSync(path, 'a+', 0o600);
  let inode = fstatSync(fd).ino;
  let offset = 0;
  let partial = '';
  const readNew = (): EngineEvent[] => {
    const out: EngineEvent[] = [];
    for (;;) {
      const buf = Buffer.alloc(64 * 1024);
      let n: number;
      while ((n = readSync(fd, buf, 0, buf.length, offset)) > 0) {
        offset += n;
        partial += buf.subarray(0, n).toString('utf8');
        const end = partial.lastIndexOf('\n');
        if (end >= 0) {
          out.push(...parseLines(partial.slice(0, end)));
          partial = partial.slice(end + 1);
        }
      }
      // Rotated under us: the rest of the old file is read; on to the new one.
      let now: number | undefined;
      try {
        now = statSync(path).ino;
      } catch (err) {
        if (errnoCodeOf(err) !== 'ENOENT') throw err;
      }
      if (now === undefined || now === inode) return out;
      closeSync(fd);
      fd = openSync(path, 'a+', 0o600);
      inode = fstatSync(fd).ino;
      offset = 0;
      partial = '';
    }
  };
  try {
    const past = opts.since !== undefined || opts.until !== undefined;
    const current = readNew();
    if (past) for (const e of [...parseLines(readIfThere(`${path}.1`)), ...current]) deliver(e);
    if (opts.until !== undefined && opts.until <= Date.now()) return;
    if (opts.signal?.aborted) return;
    await new Promise<void>((resolve) => {
      let watcher: FSWatcher | undefined;
      const poll = () => {
        try {
          for (const e of readNew()) deliver(e);
        } catch {
          // The log unreadable for a moment (removed with its root): tried again at the next change.
        }
      };
      const finish = () => {
        watcher?.close();
        clearInterval(timer);
        clearTimeout(untilTimer);
        opts.signal?.removeEventListener('abort', finish);
        resolve();
      };
      try {
        watcher = watch(eventsDir(root), poll);
        watcher.on('error', () => undefined); // the interval below goes on
      } catch {
        // No inotify: the interval alone.
      }
      const timer = setInterval(poll, 1000);
      const untilTimer = opts.until === undefined ? undefined : setTimeout(() => (poll(), finish()), Math.max(0, opts.until - Date.now()) + 50);
      opts.signal?.addEventListener('abort', finish, { once: true });
    });
  } finally {
    closeSync(fd);
  }
}
