// What a container is doing and holds, through the API: top, stats (one sample or a stream, in
// docker's JSON), changes, export, and container prune; each the engine operation `berth top`,
// `berth stats`, `berth diff`, `berth export` and `berth container prune` call.
import { totalmem } from 'node:os';
import type { StatsSample } from '../engine/stats.js';
import { containerPruneFilters } from '../engine/remove.js';
import { parseRestartPolicy } from '../engine/restart-policy.js';
import { errorMessageOf } from '../errors.js';
import { ApiError, apiHeaders, boolParam, filtersParam, readJson, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';
import { startStream } from './stream.js';

/** docker's parsePSOutput: a row split into the header's columns, the last one taking the rest (the command). */
function psColumns(row: string, count: number): string[] {
  const fields = row.trim().split(/\s+/);
  return [...fields.slice(0, count - 1), fields.slice(count - 1).join(' ')];
}

async function top(r: ApiRequest): Promise<void> {
  const psArgs = (r.query.get('ps_args') ?? '').split(/\s+/).filter(Boolean);
  const { header, rows } = await r.service.engine.top(r.params[0], psArgs);
  const titles = header.trim().split(/\s+/);
  sendJson(r, 200, { Titles: titles, Processes: rows.map((row) => psColumns(row, titles.length)) });
}

const ZERO_TIME = '0001-01-01T00:00:00Z';
const BLKIO_EMPTY = {
  io_service_bytes_recursive: null,
  io_serviced_recursive: null,
  io_queue_recursive: null,
  io_service_time_recursive: null,
  io_wait_time_recursive: null,
  io_merged_recursive: null,
  io_time_recursive: null,
  sectors_recursive: null,
};

function cpuStats(s: StatsSample | undefined) {
  const c = s?.cgroup?.cpu;
  if (!s || !c) return { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
  return {
    cpu_usage: { total_usage: c.usageUsec * 1000, usage_in_kernelmode: c.systemUsec * 1000, usage_in_usermode: c.userUsec * 1000 },
    system_cpu_usage: s.systemCpuNs,
    online_cpus: s.onlineCpus,
    throttling_data: { periods: 0, throttled_periods: c.nrThrottled ?? 0, throttled_time: (c.throttledUsec ?? 0) * 1000 },
  };
}

/** A sample as dockerd's stats JSON: `pre` is the sample before (precpu_stats), when there is one. */
function statsJson(s: StatsSample, pre: StatsSample | undefined) {
  const m = s.cgroup?.memory;
  const networks = Object.keys(s.networks).length ? { networks: s.networks } : {};
  return {
    read: s.cgroup ? s.read.toISOString() : ZERO_TIME,
    preread: pre?.cgroup ? pre.read.toISOString() : ZERO_TIME,
    pids_stats: s.cgroup ? { current: s.cgroup.pids.current, ...(s.cgroup.pids.limit !== undefined ? { limit: s.cgroup.pids.limit } : {}) } : {},
    blkio_stats: BLKIO_EMPTY,
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpuStats(s),
    precpu_stats: cpuStats(pre),
    memory_stats: m ? { usage: m.usage, ...(m.maxUsage !== undefined ? { max_usage: m.maxUsage } : {}), stats: {}, limit: m.limit ?? totalmem() } : {},
    name: `/${s.record.name}`,
    id: s.record.id,
    ...networks,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * GET /containers/{id}/stats: `stream` (the default) a sample a second until the container stops
 * or the client goes; otherwise one, with precpu_stats from a sample half a second before unless
 * `one-shot`.
 */
async function stats(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const stream = boolParam(r.query, 'stream', true);
  const oneShot = boolParam(r.query, 'one-shot');
  if (oneShot && stream) throw new ApiError('invalid-argument', 'cannot have stream=true and one-shot=true');
  let record = await engine.inspect(r.params[0]);
  let pre = oneShot ? undefined : engine.statsSample(record);
  if (!stream) {
    if (pre?.cgroup) await sleep(500);
    return sendJson(r, 200, statsJson(engine.statsSample(record), pre));
  }
  const client = startStream(r, 'application/json');
  for (;;) {
    const now = engine.statsSample(record);
    client.write('stdout', Buffer.from(JSON.stringify(statsJson(now, pre)) + '\n'));
    pre = now;
    if (!now.cgroup) break;
    await Promise.race([sleep(1000), client.closed]);
    if (client.isClosed) break;
    try {
      record = await engine.inspect(record.id);
    } catch {
      break; // removed
    }
  }
  client.end();
}

/** GET /containers/{id}/changes: docker's kinds, 0 changed, 1 added, 2 deleted. */
async function changes(r: ApiRequest): Promise<void> {
  const kinds = { C: 0, A: 1, D: 2 } as const;
  sendJson(r, 200, r.service.engine.diff(r.params[0]).map((c) => ({ Path: c.path, Kind: kinds[c.kind] })));
}

async function exportHandler(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const record = engine.containers.find(r.params[0]);
  const res = r.res!;
  res.writeHead(200, { ...apiHeaders(), 'Content-Type': 'application/x-tar' });
  await engine.exportContainer(record.id, res);
  res.end();
}

async function prune(r: ApiRequest): Promise<void> {
  const filters = containerPruneFilters(filtersParam(r.query));
  const { deleted, reclaimed } = await r.service.engine.pruneContainers(filters);
  sendJson(r, 200, { ContainersDeleted: deleted, SpaceReclaimed: reclaimed });
}


/** POST /containers/{id}/update fields berth applies; any other one set is refused by name. */
const UPDATABLE = new Set(['Memory', 'MemorySwap', 'NanoCpus', 'PidsLimit', 'RestartPolicy']);

function isSet(v: unknown): boolean {
  if (v === undefined || v === null || v === 0 || v === '' || v === false) return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

async function update(r: ApiRequest): Promise<void> {
  const body = await readJson(r);
  for (const [key, value] of Object.entries(body)) {
    if (!UPDATABLE.has(key) && isSet(value)) throw new ApiError('invalid-argument', `${key}: berth cannot update it (it updates Memory, NanoCpus, PidsLimit and RestartPolicy)`);
  }
  const num = (key: string): number | undefined => {
    const v = body[key];
    if (!isSet(v)) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new ApiError('invalid-argument', `${key}: must be a positive integer`);
    return v;
  };
  const memory = num('Memory');
  const swap = body.MemorySwap;
  if (isSet(swap) && swap !== -1 && swap !== (memory ?? 0) * 2) throw new ApiError('invalid-argument', 'MemorySwap: berth cannot update it (swap is as much again as Memory)');
  const nanoCpus = num('NanoCpus');
  const pidsLimit = num('PidsLimit');
  const policy = body.RestartPolicy as { Name?: unknown; MaximumRetryCount?: unknown } | undefined;
  let restart;
  if (policy && typeof policy === 'object' && isSet(policy.Name)) {
    if (typeof policy.Name !== 'string') throw new ApiError('invalid-argument', 'RestartPolicy.Name: must be a string');
    const retries = typeof policy.MaximumRetryCount === 'number' && policy.MaximumRetryCount > 0 ? `:${policy.MaximumRetryCount}` : '';
    try {
      restart = parseRestartPolicy(`${policy.Name}${retries}`);
    } catch (err) {
      throw new ApiError('invalid-argument', `RestartPolicy: ${errorMessageOf(err)}`);
    }
  }
  await r.service.engine.update(r.params[0], {
    ...(memory !== undefined ? { memory } : {}),
    ...(nanoCpus !== undefined ? { cpus: nanoCpus / 1e9 } : {}),
    ...(pidsLimit !== undefined ? { pidsLimit } : {}),
    ...(restart ? { restart } : {}),
  });
  sendJson(r, 200, { Warnings: [] });
}

export const containerInfoRoutes: Route[] = [
  { method: 'GET', path: '/containers/{id}/top', handler: top },
  { method: 'GET', path: '/containers/{id}/stats', handler: stats },
  { method: 'GET', path: '/containers/{id}/changes', handler: changes },
  { method: 'GET', path: '/containers/{id}/export', handler: exportHandler },
  { method: 'POST', path: '/containers/prune', handler: prune },
  { method: 'POST', path: '/containers/{id}/update', handler: update },
];
