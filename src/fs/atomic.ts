// Files that are either wholly the old content or wholly the new one: written to a temp file
// beside them (on the same filesystem), fsynced, then renamed over. A crash at any point leaves
// one or the other, never half; a failed write leaves no temp behind.
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { isMissing } from '../errors.js';

/**
 * Eight hex digits that keep two writers of one file (or a writer and a dead one's leftover under
 * a reused pid) from picking the same temp name. Not a secret: the temp is opened O_EXCL, so a
 * name taken already fails the write instead of being followed. Math.random rather than
 * node:crypto, whose loading alone costs every berth-runtime command about 5 ms (issue 17).
 */
function tempSuffix(): string {
  return Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}-${tempSuffix()}`);
  const fd = openSync(temp, 'wx', mode);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // The write or the rename failed, and that error is thrown below; the fd may be closed already.
    }
    rmSync(temp, { force: true });
    throw err;
  }
}

/** A temp file of writeFileAtomic: `.NAME.PID-HEX`. */
const TEMP_NAME = /^\..+\.(\d+)-[0-9a-f]{8}$/;

/**
 * Removes the temp files that writers killed between their open and their rename left in `dir`
 * (their process is gone); a live writer's stay. Returns the names removed.
 */
export function removeOrphanedTemps(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return []; // no directory, nothing left in it
  }
  const removed: string[] = [];
  for (const name of names) {
    const writer = TEMP_NAME.exec(name)?.[1];
    if (writer === undefined || existsSync(`/proc/${writer}`)) continue;
    rmSync(join(dir, name), { force: true });
    removed.push(name);
  }
  return removed;
}
