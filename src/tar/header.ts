// The tar header: one 512-byte block, as POSIX ustar lays it out, with the pax and GNU
// extensions that layers use (long names, big numbers, xattrs). Pure functions, no I/O.
import { BerthError, type ErrorKind } from '../errors.js';

export const BLOCK = 512;

export type TarEntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarHeader {
  name: string;
  type: TarEntryType;
  /** Permission bits with setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Size of the body in bytes (0 for everything but files). */
  size: number;
  /** Seconds since the epoch; fractional when a pax header gave it so. */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  uname: string;
  gname: string;
  /** From pax `SCHILY.xattr.NAME` (raw bytes) or `LIBARCHIVE.xattr.NAME` (base64). */
  xattrs: Record<string, Buffer>;
}

/** A malformed or truncated archive. The message names the byte offset of the bad block. */
export class TarError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(`tar: ${message} (at offset ${offset})`);
    this.name = 'TarError';
    this.offset = offset;
  }
}

/** Header fields that pax records and GNU long-name entries override for the next entry. */
export interface Overrides {
  name?: string;
  linkname?: string;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  xattrs?: Record<string, Buffer>;
}

/** What one header block is: an entry, or an extension whose body changes the next entry. */
export type RawKind = TarEntryType | 'pax' | 'pax-global' | 'gnu-longname' | 'gnu-longlink' | 'gnu-dumpdir' | 'skip';

export interface RawHeader {
  kind: RawKind;
  header: TarHeader;
}

function isZero(block: Buffer, start: number): boolean {
  for (let i = start; i < start + BLOCK; i += 1) if (block[i] !== 0) return false;
  return true;
}

export function isZeroBlock(buf: Buffer, start = 0): boolean {
  return isZero(buf, start);
}

/** Reads a NUL-terminated string field. */
function str(buf: Buffer, start: number, len: number): string {
  let end = start;
  const max = start + len;
  while (end < max && buf[end] !== 0) end += 1;
  return buf.toString('utf8', start, end);
}

/** Reads a numeric field: octal (spaces/NULs around it) or GNU base-256 (high bit set). */
function num(buf: Buffer, start: number, len: number, field: string, offset: number): number {
  const first = buf[start]!;
  if (first & 0x80) {
    // GNU base-256, big-endian two's complement; a first byte of 0xff makes it negative.
    const negative = first === 0xff;
    let v = negative ? 0 : first & 0x7f;
    for (let i = start + 1; i < start + len; i += 1) v = v * 256 + (negative ? 0xff - buf[i]! : buf[i]!);
    const value = negative ? -(v + 1) : v;
    if (!Number.isSafeInteger(value)) throw new TarError(`${field} field out of range`, offset);
    return value;
  }
  let i = start;
  const end = start + len;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i += 1;
  let value = 0;
  let digits = 0;
  for (; i < end; i += 1) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new TarError(`invalid octal digit in ${field} field`, offset);
    value = value * 8 + (c - 0x30);
    digits += 1;
  }
  for (; i < end; i += 1) {
    const c = buf[i]!;
    if (c !== 0x20 && c !== 0) throw new TarError(`invalid ${field} field`, offset);
  }
  return digits === 0 ? 0 : value;
}

function checksumOk(block: Buffer, start: number, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = start; i < start + BLOCK; i += 1) {
    const inField = i >= start + 148 && i < start + 156;
    const b = inField ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

const TYPES: Record<string, RawKind> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
  x: 'pax',
  g: 'pax-global',
  X: 'pax', // Solaris' old pax flag
  L: 'gnu-longname',
  K: 'gnu-longlink',
  V: 'skip', // GNU volume label
  D: 'gnu-dumpdir', // a directory with a listing as its body, which is skipped
};

const ENTRY_TYPES = new Set<RawKind>(['file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo']);

/** Decodes one header block at `start` of `block`; `offset` is its place in the archive, for errors. */
export function decodeHeader(block: Buffer, start: number, offset: number): RawHeader {
  const stored = num(block, start + 148, 8, 'checksum', offset);
  if (!checksumOk(block, start, stored)) throw new TarError('header checksum mismatch', offset);
  const flag = String.fromCharCode(block[start + 156]!);
  const kind = TYPES[flag];
  if (kind === undefined) {
    if (flag === 'S') throw new TarError('GNU sparse files are not supported', offset);
    throw new TarError(`unsupported entry type ${JSON.stringify(flag)}`, offset);
  }
  const magic = block.toString('latin1', start + 257, start + 265);
  let name = str(block, start, 100);
  // POSIX ustar: a prefix field joins in front; GNU's "ustar  \0" puts other things there.
  if (magic.startsWith('ustar\0')) {
    const prefix = str(block, start + 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  const size = num(block, start + 124, 12, 'size', offset);
  let type: RawKind = kind;
  // Old tars mark directories only by a trailing slash on a plain file entry.
  if (kind === 'file' && flag !== '7' && name.endsWith('/')) type = 'dir';
  const header: TarHeader = {
    name,
    type: ENTRY_TYPES.has(type) ? (type as TarEntryType) : type === 'gnu-dumpdir' ? 'dir' : 'file',
    mode: num(block, start + 100, 8, 'mode', offset) & 0o7777,
    uid: num(block, start + 108, 8, 'uid', offset),
    gid: num(block, start + 116, 8, 'gid', offset),
    size,
    mtime: num(block, start + 136, 12, 'mtime', offset),
    linkname: str(block, start + 157, 100),
    devmajor: 0,
    devminor: 0,
    uname: '',
    gname: '',
    xattrs: {},
  };
  if (magic.startsWith('ustar')) {
    header.uname = str(block, start + 265, 32);
    header.gname = str(block, start + 297, 32);
    if (type === 'char' || type === 'block') {
      header.devmajor = num(block, start + 329, 8, 'devmajor', offset);
      header.devminor = num(block, start + 337, 8, 'devminor', offset);
    }
  }
  return { kind: type, header };
}

/** Parses a pax extended header body ("%d key=value\n" records) into overrides. */
export function parsePax(body: Buffer, offset: number, into: Overrides = {}): Overrides {
  let pos = 0;
  while (pos < body.length) {
    if (body[pos] === 0) break; // some writers pad with NULs
    const space = body.indexOf(0x20, pos);
    if (space < 0) throw new TarError('malformed pax record', offset);
    const len = Number(body.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos || pos + len > body.length || body[pos + len - 1] !== 0x0a) {
      throw new TarError('malformed pax record length', offset);
    }
    const eq = body.indexOf(0x3d, space + 1);
    if (eq < 0 || eq >= pos + len) throw new TarError('malformed pax record', offset);
    const key = body.toString('utf8', space + 1, eq);
    const raw = body.subarray(eq + 1, pos + len - 1);
    applyPaxRecord(into, key, raw, offset);
    pos += len;
  }
  return into;
}

function paxNumber(raw: Buffer, key: string, offset: number): number {
  const text = raw.toString('latin1');
  const value = Number(text);
  if (text === '' || !Number.isFinite(value)) throw new TarError(`invalid pax ${key} ${JSON.stringify(text)}`, offset);
  return value;
}

function applyPaxRecord(o: Overrides, key: string, raw: Buffer, offset: number): void {
  switch (key) {
    case 'path':
      o.name = raw.toString('utf8');
      return;
    case 'linkpath':
      o.linkname = raw.toString('utf8');
      return;
    case 'size':
      o.size = paxNumber(raw, key, offset);
      if (!Number.isSafeInteger(o.size) || o.size < 0) throw new TarError('invalid pax size', offset);
      return;
    case 'mtime':
      o.mtime = paxNumber(raw, key, offset);
      return;
    case 'uid':
      o.uid = paxNumber(raw, key, offset);
      return;
    case 'gid':
      o.gid = paxNumber(raw, key, offset);
      return;
    case 'uname':
      o.uname = raw.toString('utf8');
      return;
    case 'gname':
      o.gname = raw.toString('utf8');
      return;
    case 'SCHILY.devmajor':
      o.devmajor = paxNumber(raw, key, offset);
      return;
    case 'SCHILY.devminor':
      o.devminor = paxNumber(raw, key, offset);
      return;
  }
  if (key.startsWith('SCHILY.xattr.')) {
    (o.xattrs ??= {})[key.slice('SCHILY.xattr.'.length)] = Buffer.from(raw);
  } else if (key.startsWith('LIBARCHIVE.xattr.')) {
    const name = decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length));
    (o.xattrs ??= {})[name] = Buffer.from(raw.toString('latin1'), 'base64');
  } else if (key.startsWith('GNU.sparse.')) {
    throw new TarError('GNU sparse files are not supported', offset);
  }
  // atime, ctime, charset, comment, hdrcharset and vendor keys: ignored.
}

/** Applies pax / GNU overrides to a decoded header. */
export function applyOverrides(h: TarHeader, o: Overrides): void {
  if (o.name !== undefined) h.name = o.name;
  if (o.linkname !== undefined) h.linkname = o.linkname;
  if (o.size !== undefined) h.size = o.size;
  if (o.mtime !== undefined) h.mtime = o.mtime;
  if (o.uid !== undefined) h.uid = o.uid;
  if (o.gid !== undefined) h.gid = o.gid;
  if (o.uname !== undefined) h.uname = o.uname;
  if (o.gname !== undefined) h.gname = o.gname;
  if (o.devmajor !== undefined) h.devmajor = o.devmajor;
  if (o.devminor !== undefined) h.devminor = o.devminor;
  if (o.xattrs !== undefined) h.xattrs = o.xattrs;
}

/** GNU long-name bodies end with a NUL. */
export function longNameText(body: Buffer): string {
  let end = body.indexOf(0);
  if (end < 0) end = body.length;
  return body.toString('utf8', 0, end);
}

export function padding(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

// ---- writing ----

const TYPE_FLAGS: Record<TarEntryType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Writes `value` as a NUL-terminated octal field; false when it does not fit. */
function writeOctal(block: Buffer, start: number, len: number, value: number): boolean {
  if (!Number.isSafeInteger(value) || value < 0) return false;
  const text = value.toString(8);
  if (text.length > len - 1) return false;
  block.write(text.padStart(len - 1, '0'), start, 'latin1');
  block[start + len - 1] = 0;
  return true;
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i += 1) if (s.charCodeAt(i) > 127) return false;
  return true;
}

function fitsField(s: string, len: number): boolean {
  return isAscii(s) && s.length <= len;
}

/** Splits a long name into ustar's prefix and name fields; null when it cannot be split. */
function splitUstar(name: string): [string, string] | null {
  if (name.length <= 100) return ['', name];
  if (!isAscii(name) || name.length > 256) return null;
  for (let i = name.length - 1; i > 0; i -= 1) {
    if (name[i] !== '/') continue;
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest.length > 0) return [prefix, rest];
    if (prefix.length <= 155) return null;
  }
  return null;
}

/** Formats one pax record; its length prefix counts itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(key) + value.length + 3; // ' ' '=' '\n'
  let len = rest + 1;
  while (String(len).length + rest !== len) len = String(len).length + rest;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function fillBlock(
  block: Buffer,
  name: string,
  prefix: string,
  flag: string,
  h: Pick<TarHeader, 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'linkname' | 'uname' | 'gname' | 'devmajor' | 'devminor'>,
): void {
  block.fill(0);
  block.write(name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, h.mode & 0o7777);
  writeOctal(block, 108, 8, h.uid) || writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, h.gid) || writeOctal(block, 116, 8, 0);
  writeOctal(block, 124, 12, h.size) || writeOctal(block, 124, 12, 0);
  const mtime = Math.max(0, Math.floor(h.mtime));
  writeOctal(block, 136, 12, mtime) || writeOctal(block, 136, 12, 0);
  block.write(flag, 156, 'latin1');
  block.write(h.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 'latin1');
  block.write('00', 263, 'latin1');
  block.write(h.uname, 265, 32, 'utf8');
  block.write(h.gname, 297, 32, 'utf8');
  writeOctal(block, 329, 8, h.devmajor) || writeOctal(block, 329, 8, 0);
  writeOctal(block, 337, 8, h.devminor) || writeOctal(block, 337, 8, 0);
  block.write(prefix, 345, 155, 'utf8');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/**
 * Encodes a header as ustar, preceded by a pax extended header when a field does not fit
 * (long or non-ASCII names, big numbers, xattrs), as Go's archive/tar and GNU tar --format=pax do.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const pax: Buffer[] = [];
  let split = splitUstar(h.name);
  if (!split || !isAscii(h.name)) {
    pax.push(paxRecord('path', Buffer.from(h.name)));
    split = ['', truncateAscii(h.name, 100)];
  }
  let linkname = h.linkname;
  if (!fitsField(linkname, 100)) {
    pax.push(paxRecord('linkpath', Buffer.from(linkname)));
    linkname = truncateAscii(linkname, 100);
  }
  const numeric: Array<[keyof TarHeader, number, number]> = [
    ['uid', h.uid, 8],
    ['gid', h.gid, 8],
    ['size', h.size, 12],
  ];
  for (const [key, value, len] of numeric) {
    if (!Number.isSafeInteger(value) || value < 0 || value.toString(8).length > len - 1) pax.push(paxRecord(key, Buffer.from(String(value))));
  }
  if (h.mtime < 0 || Math.floor(h.mtime).toString(8).length > 11) pax.push(paxRecord('mtime', Buffer.from(String(h.mtime))));
  let uname = h.uname;
  let gname = h.gname;
  if (!fitsField(uname, 32)) {
    pax.push(paxRecord('uname', Buffer.from(uname)));
    uname = '';
  }
  if (!fitsField(gname, 32)) {
    pax.push(paxRecord('gname', Buffer.from(gname)));
    gname = '';
  }
  for (const key of Object.keys(h.xattrs).sort()) pax.push(paxRecord(`SCHILY.xattr.${key}`, h.xattrs[key]!));
  const block = Buffer.alloc(BLOCK);
  fillBlock(block, split[1], split[0], TYPE_FLAGS[h.type], { ...h, linkname, uname, gname });
  if (pax.length === 0) return block;
  const body = Buffer.concat(pax);
  const paxBlock = Buffer.alloc(BLOCK);
  const paxName = truncateAscii(paxHeaderName(h.name), 100);
  fillBlock(paxBlock, paxName, '', 'x', {
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    linkname: '',
    uname: '',
    gname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxBlock, body, Buffer.alloc(padding(body.length)), block]);
}

/** Go's name for the pax header entry: dir/PaxHeaders.0/base. */
function paxHeaderName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const dir = slash < 0 ? '' : trimmed.slice(0, slash + 1);
  return `${dir}PaxHeaders.0/${trimmed.slice(slash + 1)}`;
}

function truncateAscii(s: string, len: number): string {
  let out = '';
  for (const ch of s) {
    if (ch.charCodeAt(0) > 127) continue;
    if (out.length + 1 > len) break;
    out += ch;
  }
  return out;
}
