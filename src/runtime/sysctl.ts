// linux.sysctl: only the settings a namespace owns may be written, and only when the container has that namespace.
import type { Step } from '../kernel/plan.js';
import { hasNamespace } from './namespaces.js';
import { SpecError } from './spec.js';
import type { Spec } from '../oci/runtime-spec.js';
import type { NamespaceKind } from '../kernel/plan.js';

/** Which namespace a sysctl belongs to (runc's list), or null when it is the whole host's. */
export function sysctlNamespace(name: string): NamespaceKind | null {
  if (name.startsWith('net.')) return 'network';
  if (name.startsWith('fs.mqueue.')) return 'ipc';
  if (['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'].includes(name)) return 'ipc';
  if (name === 'kernel.hostname' || name === 'kernel.domainname') return 'uts';
  return null;
}

export function sysctlSteps(spec: Spec): Step[] {
  const steps: Step[] = [];
  for (const [name, value] of Object.entries(spec.linux?.sysctl ?? {})) {
    const field = `linux.sysctl.${name}`;
    if (name.includes('/') || name.includes('..')) throw new SpecError('config.json', field, 'not a sysctl name');
    const ns = sysctlNamespace(name);
    if (!ns) throw new SpecError('config.json', field, 'not namespaced: it would change the host');
    if (!hasNamespace(spec, ns)) throw new SpecError('config.json', field, `needs a ${ns} namespace`);
    steps.push({ op: 'writeProc', path: `sys/${name.replace(/\./g, '/')}`, content: value });
  }
  return steps;
}
