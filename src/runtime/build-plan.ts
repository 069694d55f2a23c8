// config.json → plan: the ordered checklist of what the child does before it execs the container's
// process. A pure function of the spec and the options (it reads only host facts: the cgroup
// layout, whether a bind source is a directory, the image's /etc/passwd). Nothing runs here.
import { SyncTag, type Plan, type Step } from '../kernel/plan.js';
import { deviceSteps, devSymlinkSteps } from './devices.js';
import { finalMountSteps, mountsDevpts, rootfsSteps, rootPropagationSteps, specMountSteps } from './mounts.js';
import { becomeNamespaceRoot, hasNamespace, planNamespaces } from './namespaces.js';
import { placeSeccomp, privilegeSteps, type SeccompLoad } from './privileges.js';
import { RLIMITS, rlimitValue } from './rlimits.js';
import { SpecError } from './spec.js';
import type { Spec } from '../oci/runtime-spec.js';
import { ROOTFS_OVERLAY_ANNOTATION, rootfsOverlayOf } from './rootfs-mount.js';
import { sysctlSteps } from './sysctl.js';
import { processEnv, searchPath } from './user-env.js';

export interface PlanOptions {
  bundle: string;
  /** The rootfs's absolute host path. */
  rootfs: string;
  stdio: [number, number, number];
  /** MS_MOVE + chroot instead of pivot_root, for roots that cannot be pivoted (a ramfs). */
  noPivot?: boolean;
  /** process.terminal: the console socket the pty master is sent to. */
  consoleSocketFd?: number;
  /** The pty's size from the start (a foreground run passes its own terminal's), else the spec's consoleSize. */
  consoleSize?: { rows: number; cols: number };
  /** create: an O_PATH fd of the exec FIFO the child blocks on until start. */
  execFifoFd?: number;
  /** The parent acts right after clone (cgroup placement); a new user namespace always pauses here. */
  pauseAfterCreate?: boolean;
  /** The parent runs createRuntime/createContainer hooks before the pivot. */
  pauseBeforePivot?: boolean;
  /** linux.seccomp, compiled (seccomp.ts). */
  seccomp?: SeccompLoad | null;
  /**
   * The container's cgroup, cgroupfs-relative (`/berth/<id>`): without a cgroup namespace, its
   * directories are what a `cgroup` mount shows, as runc binds them.
   */
  cgroupPath: string;
}

export function buildPlan(spec: Spec, opts: PlanOptions): Plan {
  const proc = spec.process;
  const namespaces = planNamespaces(spec, opts.pauseAfterCreate ?? false);
  const hasMountNs = hasNamespace(spec, 'mount');
  const inUserNs = hasNamespace(spec, 'user');
  const ctx = { bundle: opts.bundle, rootfs: opts.rootfs, inUserNs, cgroupPath: opts.cgroupPath };
  if (!hasMountNs && rootfsOverlayOf(spec)) {
    throw new SpecError('config.json', `annotations.${ROOTFS_OVERLAY_ANNOTATION}`, 'an overlay rootfs needs a mount namespace: the engine mounts it itself for chroot isolation');
  }
  // Without a mount namespace the spec's mounts are made in the caller's, as the runtime-spec has a
  // container inherit every namespace it does not list, and as runc and crun make them. These three
  // would change mounts the caller already had (its own root's): refused, as runc refuses them,
  // rather than silently left undone.
  if (!hasMountNs && spec.root.readonly) {
    throw new SpecError('config.json', 'root.readonly', 'a read-only root needs a mount namespace');
  }
  for (const field of ['maskedPaths', 'readonlyPaths'] as const) {
    if (!hasMountNs && (spec.linux?.[field]?.length ?? 0) > 0) {
      throw new SpecError('config.json', `linux.${field}`, `${field} need a mount namespace`);
    }
  }
  if (proc.terminal && opts.consoleSocketFd === undefined) {
    throw new SpecError('config.json', 'process.terminal', 'a terminal needs --console-socket');
  }
  if (spec.hostname !== undefined && spec.hostname !== '' && !hasNamespace(spec, 'uts')) {
    throw new SpecError('config.json', 'hostname', 'setting the hostname needs a uts namespace');
  }

  const steps: Step[] = [...namespaces.steps];
  // A new network namespace has only lo, and down: runc brings it up, and so do we.
  if (namespaces.creates.has('network')) steps.push({ op: 'loopbackUp' });

  // The filesystem: a mount namespace of our own, or (without one) only a chroot.
  if (hasMountNs) {
    steps.push(...rootfsSteps(spec, ctx));
    steps.push(...becomeNamespaceRoot(spec));
    steps.push(...specMountSteps(spec, ctx));
    steps.push(...deviceSteps(spec.linux?.devices ?? [], inUserNs));
    steps.push(...devSymlinkSteps(mountsDevpts(spec)));
    if (opts.pauseBeforePivot) steps.push({ op: 'sync', tag: SyncTag.BeforePivot });
    steps.push(opts.noPivot ? { op: 'moveRoot' } : { op: 'pivotRoot' });
    // Sysctls go through a procfs of the child's own, never the container's /proc (see writeProc).
    steps.push(...sysctlSteps(spec));
    // As runc: /dev/console is made and bound before the root may turn read-only below.
    steps.push(sessionStep(spec, opts, true));
    steps.push(...finalMountSteps(spec, ctx));
    steps.push(...rootPropagationSteps(spec));
  } else {
    steps.push({ op: 'openRoot', path: opts.rootfs });
    steps.push(...becomeNamespaceRoot(spec));
    steps.push(...specMountSteps(spec, ctx));
    // A /dev of the spec's is a new filesystem: it gets its nodes and links as with a namespace.
    if ((spec.mounts ?? []).some((m) => m.destination.replace(/\/+$/, '') === '/dev')) {
      steps.push(...deviceSteps(spec.linux?.devices ?? [], inUserNs));
      steps.push(...devSymlinkSteps(mountsDevpts(spec)));
    }
    if (opts.pauseBeforePivot) steps.push({ op: 'sync', tag: SyncTag.BeforePivot });
    steps.push({ op: 'chroot' });
    steps.push(...sysctlSteps(spec));
    // Without a mount namespace a bind onto /dev/console would be the host's mount.
    steps.push(sessionStep(spec, opts, false));
  }

  // The kernel's other per-namespace settings.
  if (spec.hostname) steps.push({ op: 'sethostname', name: spec.hostname });
  if (spec.domainname) steps.push({ op: 'setdomainname', name: spec.domainname });
  if (proc.oomScoreAdj !== undefined) steps.push({ op: 'writeProc', path: 'self/oom_score_adj', content: String(proc.oomScoreAdj) });
  for (const limit of proc.rlimits ?? []) {
    steps.push({ op: 'rlimit', resource: RLIMITS[limit.type], soft: rlimitValue(limit.soft), hard: rlimitValue(limit.hard) });
  }

  const last: Step[] = [...privilegeSteps(proc)];
  // As the container's user, so that its permissions apply; checked to be inside the root.
  last.push({ op: 'chdir', path: proc.cwd });
  if (opts.execFifoFd !== undefined) last.push({ op: 'execFifo', fd: opts.execFifoFd });
  steps.push(...placeSeccomp(last, proc, opts.seccomp ?? null));
  const env = processEnv(proc, opts.rootfs);
  steps.push({ op: 'exec', argv: proc.args, env, searchPath: searchPath(env) });

  const listenerSocketFd = opts.seccomp?.listenerSocketFd ?? undefined;
  const keepFds = [opts.consoleSocketFd, opts.execFifoFd, listenerSocketFd].filter((fd): fd is number => fd !== undefined);
  return { cloneFlags: namespaces.cloneFlags, stdio: opts.stdio, keepFds, steps };
}

/**
 * A session of its own; with a terminal, the pty is opened inside (after the pivot, so it is the
 * container's devpts) and becomes stdio and the controlling terminal, and /dev/console.
 */
function sessionStep(spec: Spec, opts: PlanOptions, bindDevConsole: boolean): Step {
  const proc = spec.process;
  if (!proc.terminal) return { op: 'setsid' };
  const size = opts.consoleSize ?? { rows: proc.consoleSize?.height ?? 0, cols: proc.consoleSize?.width ?? 0 };
  return { op: 'console', socketFd: opts.consoleSocketFd as number, rows: size.rows, cols: size.cols, bindDevConsole };
}
