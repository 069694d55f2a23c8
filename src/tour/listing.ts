// Files shown as `ls -l` and `tar -tv` show them, for the tour's output.
import type { Stats } from 'node:fs';
import { devMajor, devMinor } from '../storage/archive.js';
import type { TarHeader } from '../tar/index.js';

const TYPE_LETTER: Record<TarHeader['type'], string> = { file: '-', hardlink: 'h', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p' };

/** `drwxr-xr-x`, with setuid, setgid and sticky bits as ls shows them. */
export function modeString(type: TarHeader['type'], mode: number): string {
  const bits = ['r', 'w', 'x', 'r', 'w', 'x', 'r', 'w', 'x'].map((c, i) => (mode & (0o400 >> i) ? c : '-'));
  const special = (at: number, bit: number, letter: string) => {
    if (mode & bit) bits[at] = bits[at] === 'x' ? letter : letter.toUpperCase();
  };
  special(2, 0o4000, 's');
  special(5, 0o2000, 's');
  special(8, 0o1000, 't');
  return TYPE_LETTER[type] + bits.join('');
}

function statType(st: Stats): TarHeader['type'] {
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'file';
}

/** One line of `ls -l PATH` (numeric owners): a device shows its major and minor numbers instead of a size. */
export function lsLine(path: string, st: Stats): string {
  const type = statType(st);
  const size = type === 'char' || type === 'block' ? `${devMajor(st.rdev)}, ${devMinor(st.rdev)}` : String(st.size);
  return `${modeString(type, st.mode & 0o7777)} ${st.nlink} ${st.uid} ${st.gid} ${size} ${path}`;
}

/** One line of `tar -tvf`: mode, owner, size, date, name (and a link's target). */
export function tarLine(h: TarHeader): string {
  const date = new Date(h.mtime * 1000).toISOString().slice(0, 16).replace('T', ' ');
  const owner = `${h.uname || h.uid}/${h.gname || h.gid}`;
  const link = h.type === 'symlink' ? ` -> ${h.linkname}` : h.type === 'hardlink' ? ` link to ${h.linkname}` : '';
  return `${modeString(h.type, h.mode)} ${owner} ${String(h.size).padStart(8)} ${date} ${h.name}${link}`;
}
