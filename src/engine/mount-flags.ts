// `berth run`'s -v/--volume, --mount and --tmpfs, parsed and checked with docker's rules and error
// texts, into what a container mounts: host binds, named or anonymous volumes, tmpfs. Nothing is
// created here: a bad flag fails before any container or volume exists (a -v host directory that
// is missing is made with the container's mounts, as dockerd makes it; --mount's must exist).
import { statSync } from 'node:fs';
import { isAbsolute, posix } from 'node:path';
import { BerthError, type ErrorKind, isMissing } from '../errors.js';

export type MountRequest =
  /** createSource: a -v source that is not there yet, made as a directory with the container. */
  | { type: 'bind'; source: string; target: string; readonly: boolean; propagation: string; createSource?: boolean }
  /** A named volume, or an anonymous one (name undefined) made for this container. */
  | { type: 'volume'; name: string | undefined; target: string; readonly: boolean; noCopy: boolean }
  | { type: 'tmpfs'; target: string; options: string[] };

/** What a container was made with, kept on its record: `rm -v` and `volume rm`'s in-use check read it. */
export interface ContainerMount {
  type: 'bind' | 'volume' | 'tmpfs';
  /** The volume's name (volumes only). */
  name?: string;
  /** An anonymous volume goes with its container (`rm -v`, `--rm`). */
  anonymous?: boolean;
  source: string;
  destination: string;
  rw: boolean;
}

export interface MountFlags {
  volumes: string[];
  mounts: string[];
  tmpfs: string[];
}

/** A bad -v, --mount or --tmpfs; the message names the flag and its value. */
export class MountFlagError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'MountFlagError';
  constructor(flag: string, spec: string, reason: string) {
    super(`invalid argument "${spec}" for "${flag}" flag: ${reason}`);
  }
}

/** docker's rule for a local volume's name. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

const PROPAGATIONS = new Set(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave']);
/** docker's --tmpfs defaults; an option the user gives in their place (exec, suid, dev) wins. */
const TMPFS_DEFAULTS = ['noexec', 'nosuid', 'nodev'];
const TMPFS_FLAG_OPTIONS = new Set(['ro', 'rw', 'exec', 'noexec', 'suid', 'nosuid', 'dev', 'nodev', 'sync', 'async', 'atime', 'noatime', 'diratime', 'nodiratime', 'relatime', 'norelatime', 'strictatime', 'nostrictatime']);
const TMPFS_VALUE_OPTIONS = /^(size=\d+[kmgKMG%]?|nr_blocks=\d+[kmgKMG]?|nr_inodes=\d+[kmgKMG]?|mode=[0-7]{1,4}|uid=\d+|gid=\d+)$/;

function checkTarget(type: string, target: string): string {
  if (target === '') throw new Error(`invalid mount config for type "${type}": field Target must not be empty`);
  if (!isAbsolute(target)) throw new Error(`invalid mount config for type "${type}": invalid mount path: '${target}' mount path must be absolute`);
  const clean = posix.normalize(target).replace(/(.)\/$/, '$1');
  if (clean === '/') throw new Error(`invalid specification: destination can't be '/'`);
  return clean;
}

/** An absolute source, and whether it is missing (an error unless `mayBeMissing`, -v's case). */
function checkBindSource(source: string, mayBeMissing: boolean): { source: string; missing: boolean } {
  if (!isAbsolute(source)) throw new Error(`invalid mount config for type "bind": invalid mount path: '${source}' mount path must be absolute`);
  try {
    statSync(source);
  } catch (err) {
    if (!isMissing(err)) throw err;
    if (!mayBeMissing) throw new Error(`invalid mount config for type "bind": bind source path does not exist: ${source}`);
    return { source: posix.normalize(source), missing: true };
  }
  return { source: posix.normalize(source), missing: false };
}

function checkVolumeName(name: string): string {
  if (!VOLUME_NAME.test(name)) {
    throw new Error(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
  return name;
}

function tmpfsOptions(given: string[]): string[] {
  for (const o of given) {
    if (!TMPFS_FLAG_OPTIONS.has(o) && !TMPFS_VALUE_OPTIONS.test(o)) throw new Error(`invalid tmpfs option ${JSON.stringify(o)}`);
  }
  const overridden = new Set(given.map((o) => o.replace(/^no/, '')));
  return [...TMPFS_DEFAULTS.filter((d) => !overridden.has(d.replace(/^no/, ''))), ...given];
}

/** `-v [SOURCE:]TARGET[:MODE]`: SOURCE absolute is a host bind, else a volume name; none is an anonymous volume. */
export function parseVolumeFlag(spec: string): MountRequest {
  const parts = spec.split(':');
  const isMode = (s: string) => s.split(',').every((m) => m === 'ro' || m === 'rw' || m === 'nocopy' || m === 'z' || m === 'Z' || PROPAGATIONS.has(m));
  let source: string | undefined;
  let target: string;
  let mode = '';
  if (parts.length === 1) [target] = parts;
  else if (parts.length === 2 && isAbsolute(parts[0]) && !isAbsolute(parts[1]) && isMode(parts[1])) [target, mode] = parts;
  else if (parts.length === 2) [source, target] = parts;
  else if (parts.length === 3) [source, target, mode] = parts;
  else throw new Error(`invalid volume specification: '${spec}'`);
  if (source === '') throw new Error(`invalid volume specification: '${spec}'`);
  const modes = mode === '' ? [] : mode.split(',');
  for (const m of modes) if (!isMode(m)) throw new Error(`invalid mode: ${mode}`);
  const readonly = modes.includes('ro');
  if (modes.includes('ro') && modes.includes('rw')) throw new Error(`invalid mode: ${mode}`);
  const propagation = modes.find((m) => PROPAGATIONS.has(m));
  if (source !== undefined && isAbsolute(source)) {
    if (modes.includes('nocopy')) throw new Error(`invalid mode: ${mode}: nocopy is for volumes, not host paths`);
    const host = checkBindSource(source, true);
    return { type: 'bind', source: host.source, target: checkTarget('bind', target), readonly, propagation: propagation ?? 'rprivate', ...(host.missing ? { createSource: true } : {}) };
  }
  if (propagation) throw new Error(`invalid mode: ${mode}: propagation is for host paths, not volumes`);
  return {
    type: 'volume',
    name: source === undefined ? undefined : checkVolumeName(source),
    target: checkTarget('volume', target),
    readonly,
    noCopy: modes.includes('nocopy'),
  };
}

/** `--mount type=bind|volume|tmpfs,source=..,target=..,readonly,volume-nocopy,tmpfs-size=..,tmpfs-mode=..,bind-propagation=..` */
export function parseMountFlag(spec: string): MountRequest {
  const fields = new Map<string, string | true>();
  for (const field of spec.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const rawKey = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    const key = { src: 'source', dst: 'target', destination: 'target', ro: 'readonly' }[rawKey] ?? rawKey;
    if (!['type', 'source', 'target', 'readonly', 'volume-nocopy', 'tmpfs-size', 'tmpfs-mode', 'bind-propagation'].includes(key)) {
      throw new Error(`unexpected key '${rawKey}' in '${field}'`);
    }
    if (fields.has(key)) throw new Error(`field '${key}' given twice`);
    fields.set(key, eq < 0 ? true : field.slice(eq + 1));
  }
  const text = (key: string): string | undefined => {
    const v = fields.get(key);
    if (v === true) throw new Error(`invalid field '${key}' must be a key=value pair`);
    return v;
  };
  const flag = (key: string): boolean => {
    const v = fields.get(key);
    if (v === undefined) return false;
    if (v === true || v === '1' || v === 'true') return true;
    if (v === '0' || v === 'false') return false;
    throw new Error(`invalid value for ${key}: ${v}`);
  };
  const type = text('type') ?? 'volume';
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') throw new Error(`invalid value for 'type': ${JSON.stringify(type)}: use bind, volume or tmpfs`);
  const only = (keys: string[], what: string) => {
    if (keys.some((k) => fields.has(k))) throw new Error(`invalid mount config for type "${type}": field ${what} must not be specified`);
  };
  const source = text('source');
  const target = checkTarget(type, text('target') ?? '');
  if (type !== 'volume') only(['volume-nocopy'], 'VolumeOptions');
  if (type !== 'tmpfs') only(['tmpfs-size', 'tmpfs-mode'], 'TmpfsOptions');
  if (type !== 'bind') only(['bind-propagation'], 'BindOptions');
  if (type === 'bind') {
    if (!source) throw new Error('invalid mount config for type "bind": field Source must not be empty');
    const propagation = text('bind-propagation') ?? 'rprivate';
    if (!PROPAGATIONS.has(propagation)) throw new Error(`invalid value for bind-propagation: ${propagation}`);
    return { type, source: checkBindSource(source, false).source, target, readonly: flag('readonly'), propagation };
  }
  if (type === 'volume') {
    return { type, name: source ? checkVolumeName(source) : undefined, target, readonly: flag('readonly'), noCopy: flag('volume-nocopy') };
  }
  if (source) throw new Error('invalid mount config for type "tmpfs": field Source must not be specified');
  const options: string[] = [];
  const size = text('tmpfs-size');
  if (size !== undefined) {
    if (!/^\d+[kmgKMG]?$/.test(size)) throw new Error(`invalid value for tmpfs-size: ${size}`);
    options.push(`size=${size}`);
  }
  const mode = text('tmpfs-mode');
  if (mode !== undefined) {
    if (!/^[0-7]{1,4}$/.test(mode)) throw new Error(`invalid value for tmpfs-mode: ${mode}: an octal mode`);
    options.push(`mode=${mode}`);
  }
  if (flag('readonly')) options.push('ro');
  return { type, target, options: tmpfsOptions(options) };
}

/** `--tmpfs PATH[:OPTIONS]`, OPTIONS as mount(8) takes them for a tmpfs (size=64m,mode=1777,exec...). */
export function parseTmpfsFlag(spec: string): MountRequest {
  const colon = spec.indexOf(':');
  const target = checkTarget('tmpfs', colon < 0 ? spec : spec.slice(0, colon));
  const given = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter(Boolean);
  return { type: 'tmpfs', target, options: tmpfsOptions(given) };
}

/** Every mount flag parsed, in the order docker applies them (-v, then --mount, then --tmpfs), with no target twice. */
export function parseMountFlags(flags: MountFlags): MountRequest[] {
  const out: MountRequest[] = [];
  const parse = (name: string, specs: string[], parser: (spec: string) => MountRequest) => {
    for (const spec of specs) {
      let request: MountRequest;
      try {
        request = parser(spec);
      } catch (err) {
        throw new MountFlagError(name, spec, (err as Error).message);
      }
      if (out.some((m) => m.target === request.target)) throw new MountFlagError(name, spec, `Duplicate mount point: ${request.target}`);
      out.push(request);
    }
  };
  parse('-v, --volume', flags.volumes, parseVolumeFlag);
  parse('--mount', flags.mounts, parseMountFlag);
  parse('--tmpfs', flags.tmpfs, parseTmpfsFlag);
  return out;
}

/**
 * The image's VOLUME paths that no flag mounts something on, as anonymous volumes (docker makes
 * one for each, copied up from the image and removed with the container by `rm -v`/`--rm`).
 */
export function withImageVolumes(requests: MountRequest[], imageVolumes: string[], image: string): MountRequest[] {
  const out = [...requests];
  for (const path of imageVolumes) {
    let target: string;
    try {
      target = checkTarget('volume', path);
    } catch (err) {
      throw new Error(`image ${image}: its config's Volumes: ${(err as Error).message}`);
    }
    if (!out.some((m) => m.target === target)) out.push({ type: 'volume', name: undefined, target, readonly: false, noCopy: false });
  }
  return out;
}
