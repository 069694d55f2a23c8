// A process that joins a running container (exec, and hooks that run "in the container
// namespace"): setns into each of its namespaces, then the same privilege steps as its init.
import type { NamespaceKind, Plan, Step } from '../kernel/plan.js';
import { planNamespaces } from './namespaces.js';
import { placeSeccomp, privilegeSteps, type SeccompLoad } from './privileges.js';
import { RLIMITS, rlimitValue } from './rlimits.js';
import type { Process, Spec } from '../oci/runtime-spec.js';
import type { ContainerRecord } from './state.js';
import { processEnv, searchPath } from './user-env.js';

/** The nsfs file name of each namespace type. */
export const NS_FILE: Record<NamespaceKind, string> = {
  pid: 'pid',
  network: 'net',
  mount: 'mnt',
  ipc: 'ipc',
  uts: 'uts',
  user: 'user',
  cgroup: 'cgroup',
  time: 'time',
};

export interface JoinOptions {
  stdio: [number, number, number];
  consoleSocketFd?: number;
  /** Only the namespaces, no privilege change (hooks run as the runtime runs them). */
  asHook?: boolean;
  /** The container's linux.seccomp, compiled: an exec'd process runs under it too, as with runc. */
  seccomp?: SeccompLoad | null;
}

export function buildJoinPlan(record: ContainerRecord, proc: Process, opts: JoinOptions): Plan {
  const joinSpec: Spec = {
    ...record.config,
    linux: {
      ...record.config.linux,
      namespaces: Object.entries(record.namespaces).map(([type, path]) => ({ type: type as NamespaceKind, path })),
    },
  };
  // Paused after the clone: the runtime places the process in the container's cgroup.
  const steps: Step[] = [...planNamespaces(joinSpec, true).steps];
  if (!('mount' in record.namespaces)) {
    // The container was only chrooted: so is this process, into the same root.
    steps.push({ op: 'openRoot', path: `/proc/${record.pid}/root` }, { op: 'chroot' });
  }
  const env = processEnv(proc, record.rootfs);
  if (!opts.asHook) {
    // As runc's exec: the container's score, not the caller's.
    if (proc.oomScoreAdj !== undefined) steps.push({ op: 'writeProc', path: 'self/oom_score_adj', content: String(proc.oomScoreAdj) });
    for (const limit of proc.rlimits ?? []) {
      steps.push({ op: 'rlimit', resource: RLIMITS[limit.type], soft: rlimitValue(limit.soft), hard: rlimitValue(limit.hard) });
    }
    if (proc.terminal && opts.consoleSocketFd !== undefined) {
      const size = proc.consoleSize;
      steps.push({ op: 'console', socketFd: opts.consoleSocketFd, rows: size?.height ?? 0, cols: size?.width ?? 0, bindDevConsole: false });
    } else {
      steps.push({ op: 'setsid' });
    }
    steps.push(...placeSeccomp([...privilegeSteps(proc), { op: 'chdir', path: proc.cwd }], proc, opts.seccomp ?? null));
  }
  steps.push({ op: 'exec', argv: proc.args, env, searchPath: searchPath(env) });
  const listenerSocketFd = opts.asHook ? undefined : (opts.seccomp?.listenerSocketFd ?? undefined);
  const keepFds = [opts.consoleSocketFd, listenerSocketFd].filter((fd): fd is number => fd !== undefined);
  return { cloneFlags: 0, stdio: opts.stdio, keepFds, steps };
}
