// `berth rm`: a container that is not running (with `force`, killed first) goes: its runtime
// state and cgroup, its monitor (waited for, so that nothing of it is left), its files and name.
import { waitGone } from '../runtime/processes.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { monitorPaths, type EngineContext } from './context.js';
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
