// Who waits for a container's exit status: an attached `run` (its container may be --rm, and
// gone by the time the output ends) or `berth wait`. Each waiter leaves a file beside conmon's exit
// file, `<exitDir>/<id>.waiter.<pid>.<n>`, holding `pid starttime`. The exit file of a removed
// container stays while a live waiter is registered; the last waiter, or the next cleanup after a
// waiter died, removes it. So nothing is left behind, and no waiter loses the status to a race.
import { rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { holderAlive, holderId } from '../fs/lock.js';
import { readdirIfExists, readFileIfExists } from '../fs/if-exists.js';

const WAITER = /^([0-9a-f]{64})\.waiter\.\d+(\.\d+)?$/;
/** Waiters of this process so far: each has a file of its own (the API service waits for many). */
let waiters = 0;

/** Registers this process as a waiter for `id`; the returned function unregisters it. */
export function addWaiter(exitDir: string, id: string): () => void {
  mkdirSync(exitDir, { recursive: true, mode: 0o700 });
  const file = join(exitDir, `${id}.waiter.${process.pid}.${++waiters}`);
  writeFileSync(file, holderId());
  return () => rmSync(file, { force: true });
}


export function hasLiveWaiter(exitDir: string, id: string): boolean {
  return readdirIfExists(exitDir).some((name) => WAITER.exec(name)?.[1] === id && holderAlive(readFileIfExists(join(exitDir, name)) ?? ''));
}

/** Removes dead waiters' files, and the exit files of containers that are gone and awaited by no one. */
export function pruneExitDir(exitDir: string, existing: Set<string>): void {
  const names = readdirIfExists(exitDir);
  for (const name of names) {
    if (WAITER.test(name) && !holderAlive(readFileIfExists(join(exitDir, name)) ?? '')) rmSync(join(exitDir, name), { force: true });
  }
  for (const name of names) {
    if (/^[0-9a-f]{64}$/.test(name) && !existing.has(name) && !hasLiveWaiter(exitDir, name)) rmSync(join(exitDir, name), { force: true });
  }
}
