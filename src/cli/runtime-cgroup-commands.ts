// berth-runtime's cgroup commands: update's flags, events, ps (runc's shapes).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { CgroupStats } from '../cgroups/driver.js';
import { RuntimeError, type Runtime } from '../runtime/container.js';
import type { Resources } from '../oci/runtime-spec.js';
import { str, UsageError, type FlagSpec, type Parsed } from './args.js';

export const UPDATE_FLAGS: FlagSpec[] = [
  { name: 'resources', short: 'r' },
  { name: 'cpu-quota' },
  { name: 'cpu-period' },
  { name: 'cpu-share' },
  { name: 'cpuset-cpus' },
  { name: 'cpuset-mems' },
  { name: 'memory' },
  { name: 'memory-reservation' },
  { name: 'memory-swap' },
  { name: 'pids-limit' },
  { name: 'blkio-weight' },
];

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** "100m", "1g", "1048576", "-1" → bytes (binary units, as runc and docker read memory sizes). */
export function parseBytes(flag: string, text: string): number {
  if (text === '-1') return -1;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`--${flag}: not a size: ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

function parseInteger(flag: string, text: string): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${flag}: not an integer: ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * The resources an update asks for: `-r FILE` (a linux.resources JSON, `-` for stdin) or the
 * flags. A quota without a period takes the container's current period, as runc's update does.
 */
export function updateResources(p: Parsed, current: Resources): Resources {
  const file = str(p, 'resources');
  if (file) {
    const text = readFileSync(file === '-' ? 0 : file, 'utf8');
    try {
      return JSON.parse(text) as Resources;
    } catch (err) {
      throw new UsageError(`${file === '-' ? 'stdin' : file}: malformed JSON: ${(err as Error).message}`);
    }
  }
  const r: Resources = {};
  const flag = (name: string) => str(p, name);
  const cpu: NonNullable<Resources['cpu']> = {};
  if (flag('cpu-quota') !== undefined) cpu.quota = parseInteger('cpu-quota', flag('cpu-quota') as string);
  if (flag('cpu-period') !== undefined) cpu.period = parseInteger('cpu-period', flag('cpu-period') as string);
  if (cpu.quota !== undefined && cpu.period === undefined && cpu.quota !== -1) cpu.period = current.cpu?.period ?? 100_000;
  if (flag('cpu-share') !== undefined) cpu.shares = parseInteger('cpu-share', flag('cpu-share') as string);
  if (flag('cpuset-cpus') !== undefined) cpu.cpus = flag('cpuset-cpus');
  if (flag('cpuset-mems') !== undefined) cpu.mems = flag('cpuset-mems');
  if (Object.keys(cpu).length) r.cpu = cpu;
  const memory: NonNullable<Resources['memory']> = {};
  if (flag('memory') !== undefined) memory.limit = parseBytes('memory', flag('memory') as string);
  if (flag('memory-reservation') !== undefined) memory.reservation = parseBytes('memory-reservation', flag('memory-reservation') as string);
  if (flag('memory-swap') !== undefined) memory.swap = parseBytes('memory-swap', flag('memory-swap') as string);
  if (Object.keys(memory).length) r.memory = memory;
  if (flag('pids-limit') !== undefined) r.pids = { limit: parseInteger('pids-limit', flag('pids-limit') as string) };
  if (flag('blkio-weight') !== undefined) r.blockIO = { weight: parseInteger('blkio-weight', flag('blkio-weight') as string) };
  if (Object.keys(r).length === 0) throw new UsageError('update: nothing to change (give flags or -r FILE)');
  return r;
}

/** runc's events `data` shape, for the fields berth reads. */
function statsData(s: CgroupStats) {
  return {
    cpu: { usage: { total: s.cpu.usageUsec * 1000, user: s.cpu.userUsec * 1000, kernel: s.cpu.systemUsec * 1000 }, throttling: { throttledPeriods: s.cpu.nrThrottled ?? 0, throttledTime: (s.cpu.throttledUsec ?? 0) * 1000 } },
    memory: { usage: { usage: s.memory.usage, limit: s.memory.limit ?? 0, max: s.memory.maxUsage ?? 0 }, oomKills: s.memory.oomKills },
    pids: { current: s.pids.current, limit: s.pids.limit ?? 0 },
  };
}

function parseInterval(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new UsageError(`--interval: not a duration: ${JSON.stringify(text)}`);
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'] as number);
}

/**
 * `events --stats`: one stats line. `events`: a stats line every interval and an `oom` line
 * whenever the OOM killer strikes, until the container stops.
 */
export async function eventsCommand(runtime: Runtime, id: string, once: boolean, interval: string): Promise<number> {
  const every = parseInterval(interval);
  // runc's events read a live container only: a stopped one's cgroup may be gone or half gone.
  if (runtime.state(id).status === 'stopped') throw new RuntimeError(`cannot read the events of container ${id}: container not running`);
  const cgroup = runtime.cgroup(id);
  const emit = (type: string, data?: unknown) => process.stdout.write(JSON.stringify({ type, id, ...(data ? { data } : {}) }) + '\n');
  let ooms = cgroup.stats().memory.oomEvents;
  for (let stopped = false; ; ) {
    const stats = cgroup.stats();
    if (stats.memory.oomEvents > ooms) emit('oom');
    ooms = stats.memory.oomEvents;
    emit('stats', statsData(stats));
    if (once || stopped) return 0;
    await new Promise((r) => setTimeout(r, every));
    // A container that stopped meanwhile gets one last look, or the OOM kill that ended it
    // (the usual way an OOM ends a container) would never be reported.
    stopped = runtime.state(id).status === 'stopped';
  }
}

/** `ps ID`: the container's pids as JSON, or the lines of `ps -ef` (or the given ps args) for them. */
export function psCommand(runtime: Runtime, id: string, format: string, psArgs: string[]): number {
  const pids = runtime.cgroup(id).pids();
  if (format === 'json') {
    process.stdout.write(JSON.stringify(pids) + '\n');
    return 0;
  }
  // node:child_process here only: the runtime's other commands start without it (issue 17).
  const { spawnSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const ps = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (ps.status !== 0) throw new Error(`ps: ${ps.stderr.trim() || `exit status ${ps.status}`}`);
  const [header, ...lines] = ps.stdout.trimEnd().split('\n');
  const pidColumn = header.trim().split(/\s+/).indexOf('PID');
  if (pidColumn < 0) throw new UsageError('ps: the ps options must keep a PID column');
  const wanted = new Set(pids);
  process.stdout.write([header, ...lines.filter((l) => wanted.has(Number(l.trim().split(/\s+/)[pidColumn])))].join('\n') + '\n');
  return 0;
}
