// `docker update` of what berth can change on a container: its CPU, memory and pids limits (the
// bundle's config.json for every start to come, and the live cgroup through the runtime when it
// runs) and its restart policy. The Engine API's POST /containers/{id}/update calls it.
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';
import { limitResources } from './container-spec.js';
import { ContainerStoreError } from './containers.js';
import { monitorPaths, type EngineContext } from './context.js';
import { recordContainerEvent } from './events.js';
import { bundleSpec } from './exec.js';
import { settle } from './lifecycle.js';
import type { RestartPolicy } from './restart-policy.js';

export interface ContainerUpdate {
  /** CPUs' worth of time per period (docker's NanoCpus / 1e9). */
  cpus?: number;
  /** Bytes (swap as much again, as at create). */
  memory?: number;
  pidsLimit?: number;
  restart?: RestartPolicy;
}

export async function updateContainer(ctx: EngineContext, ref: string, update: ContainerUpdate): Promise<void> {
  const { id } = ctx.containers.find(ref);
  await ctx.containers.locked(id, async (r) => {
    const record = await settle(ctx, r);
    if (!record) throw new ContainerStoreError(`No such container: ${ref}`, { kind: 'not-found' });
    if (update.restart && update.restart.name !== 'no' && record.autoRemove) throw new ContainerStoreError('Restart policy cannot be updated because AutoRemove is enabled for the container', { kind: 'invalid-argument' });
    const changes = limitResources(update);
    if (Object.keys(changes).length) {
      // The live cgroup first: a limit the kernel refuses (below the usage) changes nothing on disk.
      if (record.state.status === 'running' || record.state.status === 'paused') ctx.runtime.update(id, changes);
      const spec = bundleSpec(ctx, record);
      const linux = (spec.linux ??= {});
      linux.resources = { ...(linux.resources ?? {}), ...changes };
      writeFileAtomic(join(monitorPaths(ctx, id).bundle, 'config.json'), JSON.stringify(spec, null, 2));
    }
    if (update.restart) record.restartPolicy = update.restart;
    ctx.containers.save(record);
    recordContainerEvent(ctx.root, record, 'update');
  });
}
