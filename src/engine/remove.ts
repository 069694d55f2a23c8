// `berth rm`: a container that is not running (with `force`, killed first) goes: its runtime
// state and cgroup, its monitor (waited for, so that nothing of it is left), its files and name.
import { BerthError, errorKindOf, isMissing } from '../errors.js';
import { parseLogTime } from './logs.js';
import { waitGone } from '../runtime/processes.js';
import { walkTree } from '../storage/archive.js';
import { labelMatches } from './container-list.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { monitorPaths, pathsOf, type EngineContext } from './context.js';
import { deleteRuntimeLeftovers, EXIT_FILE_WAIT_MS, monitorProcess, removeFiles, runtimeStatus, settle } from './lifecycle.js';
import { removeExitFile } from './monitor.js';

export async function removeContainer(ctx: EngineContext, ref: string, force: boolean, removeVolumes = false): Promise<ContainerRecord> {
  const { id } = ctx.containers.find(ref);
  const removed = await ctx.containers.locked(id, async (r) => {
    const record = (await settle(ctx, r)) ?? r;
    const live = runtimeStatus(ctx, id);
    if ((live === 'running' || live === 'paused' || live === 'created') && !force) {
      throw new ContainerStoreError(`cannot remove container ${record.name}: it is ${live}; stop it first or use rm -f`);
    }
    record.state.stoppedByUser = true;
    ctx.containers.save(record);
    const monitor = monitorProcess(ctx, id);
    await deleteRuntimeLeftovers(ctx, record);
    await removeFiles(ctx, record, removeVolumes);
    return { record, monitor };
  });
  if (!removed) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
  // Its conmon, if any, now runs its exit command (which finds nothing to do) and ends: waited
  // for, so that no process, socket link or exit file of the container outlives `rm`.
  const { monitor } = removed;
  if (monitor) await waitGone(monitor.pid, monitor.startTime, EXIT_FILE_WAIT_MS);
  removeExitFile(monitorPaths(ctx, id), id);
  return removed.record;
}

/** Bytes of the files a container wrote (its overlay's upper dir): docker's SizeRw. */
export function writableLayerSize(ctx: EngineContext, id: string): number {
  let total = 0;
  try {
    walkTree(pathsOf(ctx, { id }).upper, (_rel, st) => {
      if (st.isFile()) total += st.size;
    });
  } catch (err) {
    if (!isMissing(err)) throw err; // removed meanwhile: nothing of it left to count
  }
  return total;
}

export interface ContainerPruneFilters {
  /** Only containers created before this time (ms since the epoch). */
  until?: number;
  /** docker's label filters: `k`, `k=v` (all must match); `label!=`: none of these may. */
  labels?: string[];
  notLabels?: string[];
}

/** docker's container prune filters (`until`, `label`, `label!`), as key and value pairs (the API's and the CLI's), as filters. */
export function containerPruneFilters(pairs: [string, string][]): ContainerPruneFilters {
  const labels: string[] = [];
  const notLabels: string[] = [];
  let until: number | undefined;
  for (const [key, value] of pairs) {
    if (key === 'until') {
      try {
        until = parseLogTime(value);
      } catch {
        throw new BerthError(`filter until=${value}: not a time (Unix seconds, RFC 3339 or a duration)`, { kind: 'invalid-argument' });
      }
    } else if (key === 'label') labels.push(value);
    else if (key === 'label!') notLabels.push(value);
    else throw new BerthError(`Invalid filter '${key}' (container prune filters are until, label and label!)`, { kind: 'invalid-argument' });
  }
  return { labels, notLabels, ...(until !== undefined ? { until } : {}) };
}

/** `container prune`: every stopped container (created or exited) the filters keep goes; their ids and the bytes they had written. */
export async function pruneContainers(ctx: EngineContext, filters: ContainerPruneFilters = {}): Promise<{ deleted: string[]; reclaimed: number }> {
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const record of ctx.containers.list()) {
    const current = await ctx.containers.locked(record.id, (r) => settle(ctx, r));
    if (!current || (current.state.status !== 'exited' && current.state.status !== 'created')) continue;
    if (filters.until !== undefined && Date.parse(current.created) >= filters.until) continue;
    if (!(filters.labels ?? []).every((l) => labelMatches(current.labels ?? {}, l))) continue;
    if ((filters.notLabels ?? []).some((l) => labelMatches(current.labels ?? {}, l))) continue;
    const size = writableLayerSize(ctx, current.id);
    try {
      await removeContainer(ctx, current.id, false);
    } catch (err) {
      if (errorKindOf(err) === 'not-found') continue; // removed by someone else meanwhile
      throw err;
    }
    deleted.push(current.id);
    reclaimed += size;
  }
  return { deleted, reclaimed };
}
