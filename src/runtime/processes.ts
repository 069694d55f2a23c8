// Processes by pid, safely: a pid is only ours while its start time matches what we recorded.
import { closeSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { constants } from 'node:os';
import { native } from '../kernel/native.js';
import { errnoCodeOf, isMissing } from '../errors.js';

/** Field 22 of /proc/PID/stat (and the state, field 3); null when the process is gone. */
function readStat(pid: number): { state: string; startTime: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may hold spaces and parens: split after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], startTime: fields[19] };
  } catch (err) {
    if (!isMissing(err) && errnoCodeOf(err) !== 'ESRCH') throw err;
    return null; // no such process
  }
}

export function startTimeOf(pid: number): string | null {
  return readStat(pid)?.startTime ?? null;
}

/** `dev:ino` of a process's executable; null when it is gone. */
export function executableOf(pid: number): string | null {
  try {
    const st = statSync(`/proc/${pid}/exe`);
    return `${st.dev}:${st.ino}`;
  } catch (err) {
    if (!isMissing(err) && errnoCodeOf(err) !== 'ESRCH') throw err;
    return null;
  }
}

/** Alive and the same process (not a zombie, not a recycled pid). */
export function isAlive(pid: number, startTime: string): boolean {
  const stat = readStat(pid);
  return stat !== null && stat.startTime === startTime && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Sends a signal through a pidfd opened and then checked against the start time, so that it can
 * never reach a process that took over the pid. Returns false when the process is gone.
 */
export function signalProcess(pid: number, startTime: string, signal: number): boolean {
  let pidfd: number;
  try {
    pidfd = native.pidfdOpen(pid);
  } catch (err) {
    if (errnoCodeOf(err) !== 'ESRCH') throw err;
    return false; // no such process
  }
  try {
    if (!isAlive(pid, startTime)) return false;
    native.pidfdSendSignal(pidfd, signal);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === 'ESRCH') return false;
    throw err;
  } finally {
    closeSync(pidfd);
  }
}

/** Every pid whose PID namespace is that of `pid` (the container's processes, seen from the host). */
export function pidsInPidNamespace(pid: number): number[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch (err) {
    if (!isMissing(err) && errnoCodeOf(err) !== 'ESRCH') throw err;
    return []; // no such process: none in its namespace either
  }
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readlinkSync(`/proc/${name}/ns/pid`) === ns) pids.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** "15", "TERM", "SIGTERM", "sigterm" → 15. */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= 64) return n;
  } else {
    const name = text.toUpperCase().replace(/^SIG/, '');
    const n = (constants.signals as Record<string, number>)[`SIG${name}`];
    if (n !== undefined) return n;
  }
  throw new Error(`unknown signal ${JSON.stringify(text)}`);
}

/** Waits (polling, up to `ms`) until the process is gone; it may not be our child, so it cannot be waited for. */
export async function waitGone(pid: number, startTime: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (isAlive(pid, startTime)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}
