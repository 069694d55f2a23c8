// Reading what may not be there: a file or directory that is missing is an answer (null, no
// names), while any other failure (EACCES, EIO, ELOOP) is an error, never taken for "missing".
import { readdirSync, readFileSync } from 'node:fs';
import { isMissing } from '../errors.js';

/** The file's text, or null when there is no such file. */
export function readFileIfExists(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return null;
  }
}

/** The directory's names, or none when there is no such directory. */
export function readdirIfExists(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return [];
  }
}
