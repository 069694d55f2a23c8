// What a running container is doing: its processes as the host's ps shows them (`top`), and a
// sample of its resource use (`stats`: the cgroup's counters, its network devices' bytes, the
// host's CPU time for docker's CPU percentage). `berth top`/`berth stats` and the Engine API's
// /containers/{id}/top and /stats render these in their own forms.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { CgroupStats } from '../cgroups/driver.js';
import { errnoCodeOf, isMissing } from '../errors.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import type { EngineContext } from './context.js';
import { recordContainerEvent } from './events.js';
import { inspectContainer } from './stop.js';

function isLive(record: ContainerRecord): boolean {
  return record.state.status === 'running' || record.state.status === 'paused';
}

/**
 * docker's top: the host's `ps` (default -ef) with the rows of the container's processes kept
 * (by its PID column). The header line and the rows, as ps printed them.
 */
export async function containerTop(ctx: EngineContext, ref: string, psArgs: string[]): Promise<{ header: string; rows: string[] }> {
  const record = await inspectContainer(ctx, ref);
  if (!isLive(record)) throw new ContainerStoreError(`container ${record.name} is not running`, { kind: 'conflict' });
  const pids = new Set(ctx.runtime.cgroup(record.id).pids());
  const args = psArgs.length ? psArgs : ['-ef'];
  const ps = spawnSync('ps', args, { encoding: 'utf8' });
  if (ps.status !== 0) throw new ContainerStoreError(`top: ps ${args.join(' ')} failed: ${ps.stderr.trim()}`, { kind: 'invalid-argument' });
  const [header, ...rows] = ps.stdout.trimEnd().split('\n');
  const pidColumn = header.trim().split(/\s+/).indexOf('PID');
  if (pidColumn < 0) throw new ContainerStoreError(`top: the output of ps ${args.join(' ')} has no PID column`, { kind: 'invalid-argument' });
  recordContainerEvent(ctx.root, record, 'top');
  return { header, rows: rows.filter((r) => pids.has(Number(r.trim().split(/\s+/)[pidColumn]))) };
}

/** A network device's counters, as /proc/PID/net/dev has them. */
export interface NetDevStats {
  rx_bytes: number;
  rx_packets: number;
  rx_errors: number;
  rx_dropped: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errors: number;
  tx_dropped: number;
}

/** The container's network devices but lo, seen from its process (empty once it is gone). */
function networkDevices(pid: number): Record<string, NetDevStats> {
  const out: Record<string, NetDevStats> = {};
  if (pid <= 0) return out;
  try {
    for (const line of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
      const [name, rest] = line.split(':');
      if (!rest || name.trim() === 'lo') continue;
      const f = rest.trim().split(/\s+/).map(Number);
      out[name.trim()] = { rx_bytes: f[0], rx_packets: f[1], rx_errors: f[2], rx_dropped: f[3], tx_bytes: f[8], tx_packets: f[9], tx_errors: f[10], tx_dropped: f[11] };
    }
  } catch (err) {
    if (!isMissing(err) && errnoCodeOf(err) !== 'ESRCH') throw err;
    // the process is gone: no devices to read
  }
  return out;
}

/** The host's CPU time in nanoseconds (/proc/stat's cpu line), docker's system_cpu_usage. */
function systemCpuNs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  const ticks = line.trim().split(/\s+/).slice(1, 8).map(Number).reduce((a, b) => a + b, 0);
  return ticks * (1e9 / 100); // USER_HZ is 100 on Linux
}

export interface StatsSample {
  record: ContainerRecord;
  read: Date;
  /** Absent when the container is not running (or exited between the list and the read). */
  cgroup?: CgroupStats;
  networks: Record<string, NetDevStats>;
  systemCpuNs: number;
  onlineCpus: number;
}

/** One sample of a container's resource use now. */
export function sampleStats(ctx: EngineContext, record: ContainerRecord): StatsSample {
  let cgroup: CgroupStats | undefined;
  if (isLive(record)) {
    try {
      cgroup = ctx.runtime.cgroup(record.id).stats();
    } catch {
      cgroup = undefined; // exited between the list and the sample
    }
  }
  return { record, read: new Date(), cgroup, networks: cgroup ? networkDevices(record.state.pid) : {}, systemCpuNs: systemCpuNs(), onlineCpus: cpus().length };
}
