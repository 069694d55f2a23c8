// A container's log as conmon writes it (the "k8s-file" format of CRI): one line per chunk of
// output, `TIMESTAMP STREAM TAG TEXT`, where STREAM is stdout or stderr and TAG is F for the end of
// a line or P for a part of one (a long line, or output that has no newline yet — the last line
// of a program that ends without one is kept as P). `berth logs` puts the parts back together.
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { BerthError } from '../errors.js';

export interface LogEntry {
  /** RFC 3339 with nanoseconds, as conmon wrote it. */
  time: string;
  stream: 'stdout' | 'stderr';
  /** The end of a line (F), or a part of one (P). */
  partial: boolean;
  text: string;
}

export interface LogOptions {
  /** Only entries at or after this time (ms since the epoch). */
  since?: number;
  /** Only entries before this time. */
  until?: number;
  /** Only the last N lines. */
  tail?: number;
  timestamps: boolean;
}

export class LogError extends BerthError {
  override readonly name = 'LogError';
}

/** One line of the log; null for one that is not in the format (a torn write at a crash). */
export function parseLogLine(line: string): LogEntry | null {
  const m = /^(\S+) (stdout|stderr) ([FP]) ?(.*)$/s.exec(line); // s: a terminal's output holds \r
  if (!m) return null;
  return { time: m[1], stream: m[2] as LogEntry['stream'], partial: m[3] === 'P', text: m[4] };
}

/** Milliseconds since the epoch of a log timestamp (sub-millisecond digits dropped). */
export function logTimeMs(time: string): number {
  return Date.parse(time.replace(/(\.\d{3})\d+/, '$1'));
}

/** docker's --since/--until: RFC 3339, a Unix time in seconds, or a duration ago (10m, 1h30m, 45s). */
export function parseLogTime(text: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
    let ms = 0;
    for (const [, n, , u] of text.matchAll(/(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * unit[u];
    return now - ms;
  }
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new LogError(`invalid time ${JSON.stringify(text)}: use RFC 3339 (2026-01-02T15:04:05Z), Unix seconds, or a duration such as 10m`);
  return t;
}

/** docker prints times in UTC with a Z. */
function displayTime(time: string): string {
  return time.replace(/\+00:00$/, 'Z');
}

/** Whole lines out of entries: parts joined, the stream and time of a line being its first part's. */
function toLines(entries: LogEntry[]): { entry: LogEntry; text: string; complete: boolean }[] {
  const lines: { entry: LogEntry; text: string; complete: boolean }[] = [];
  const open = new Map<string, { entry: LogEntry; text: string; complete: boolean }>();
  for (const entry of entries) {
    let line = open.get(entry.stream);
    if (!line) {
      line = { entry, text: '', complete: false };
      lines.push(line);
      open.set(entry.stream, line);
    }
    line.text += entry.text;
    if (!entry.partial) {
      line.complete = true;
      open.delete(entry.stream);
    }
  }
  return lines;
}

/** Renders lines as docker logs does; a last line without its newline stays without one. */
function render(lines: ReturnType<typeof toLines>, opts: LogOptions, write: (stream: LogEntry['stream'], text: string) => void): void {
  for (const line of lines) {
    const prefix = opts.timestamps ? `${displayTime(line.entry.time)} ` : '';
    write(line.entry.stream, `${prefix}${line.text}${line.complete ? '\n' : ''}`);
  }
}

/** Reads a log file from `offset`: its complete lines' entries and the offset after them. */
function readFrom(path: string, offset: number): { entries: LogEntry[]; offset: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], offset }; // never started
    throw err;
  }
  try {
    const size = statSync(path).size;
    if (size <= offset) return { entries: [], offset };
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.lastIndexOf('\n') + 1; // a line still being written is read next time
    const entries = text
      .slice(0, end)
      .split('\n')
      .map(parseLogLine)
      .filter((e): e is LogEntry => e !== null);
    return { entries, offset: offset + Buffer.byteLength(text.slice(0, end)) };
  } finally {
    closeSync(fd);
  }
}

function selected(entries: LogEntry[], opts: LogOptions): LogEntry[] {
  return entries.filter((e) => {
    const t = logTimeMs(e.time);
    return (opts.since === undefined || t >= opts.since) && (opts.until === undefined || t < opts.until);
  });
}

/**
 * `berth logs`: what the log holds, then with `follow` what comes, until `running()` says the
 * container has stopped (what it wrote last is read after that).
 */
export async function printLogs(
  path: string,
  opts: LogOptions & { follow?: boolean; running?: () => Promise<boolean> },
  write: (stream: LogEntry['stream'], text: string) => void,
): Promise<void> {
  let { entries, offset } = readFrom(path, 0);
  let lines = toLines(selected(entries, opts));
  if (opts.tail !== undefined) lines = opts.tail === 0 ? [] : lines.slice(-opts.tail);
  render(lines, opts, write);
  if (!opts.follow) return;
  for (;;) {
    const alive = opts.running ? await opts.running() : false;
    ({ entries, offset } = readFrom(path, offset));
    render(toLines(selected(entries, opts)), opts, write);
    if (!alive) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** conmon's timestamp form: RFC 3339 with nanoseconds and a numeric offset (UTC here). */
function logTimestamp(): string {
  const now = new Date();
  const nanos = String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  return `${now.toISOString().slice(0, 23)}${nanos}+00:00`;
}

/**
 * Writes a container's output in the same format conmon does, for the containers that run in the
 * foreground of `berth run` (no conmon): `berth logs` reads both alike. A chunk's complete lines
 * are F entries; what follows the last newline is a P entry, written at once, as conmon does.
 */
export class LogWriter {
  private readonly fd: number;

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o640);
  }

  write(stream: LogEntry['stream'], chunk: Buffer): void {
    const text = chunk.toString('utf8');
    const time = logTimestamp();
    const parts = text.split('\n');
    const last = parts.pop() as string;
    let out = parts.map((line) => `${time} ${stream} F ${line}\n`).join('');
    if (last !== '') out += `${time} ${stream} P ${last}\n`;
    writeSync(this.fd, out);
  }

  close(): void {
    closeSync(this.fd);
  }
}
