// A plan step in a few words, for error messages: "mount proc on /proc", "exec /bin/sh".
import { MS, pathOf, RLIMIT_NAMES, rlimitText, type Step } from './plan.js';

/** Which part of a step failed, for the steps that check something before their syscall (native/plan.h's enum step_part). */
export enum StepPart {
  Step = 0,
  /** Opening the child's private procfs (sysctls, oom_score_adj; mount paths after the pivot). */
  Procfs = 1,
  /** The container's /dev/null, the source of a masked file's bind. */
  DevNull = 2,
  /** The container's /dev/console, the target of the pty's bind. */
  DevConsole = 3,
  /** A symlink on the way to a target that is never reached through one. */
  NoSymlinks = 4,
}

const PART_WORDS: Record<StepPart, string> = {
  [StepPart.Step]: '',
  [StepPart.Procfs]: ": opening a procfs of the runtime's own, verified to be procfs",
  [StepPart.DevNull]: ": the container's /dev/null, which masks a file, must be the null device (character 1:3) and no symlink",
  [StepPart.DevConsole]: ": the container's /dev/console, the pty's bind target, must be a file or device inside the root and no symlink",
  [StepPart.NoSymlinks]: ': a symlink on the way (procfs and sysfs mounts, masked and read-only paths are never reached through one)',
};

function describeMount(step: Extract<Step, { op: 'mount' }>): string {
  const target = pathOf(step.target);
  const source = step.source === null ? null : pathOf(step.source);
  if (step.flags & MS.REMOUNT) return `remount ${target}`;
  if (step.flags & MS.MOVE) return `move mount ${source} to ${target}`;
  if (step.flags & MS.BIND) return `bind mount ${source} on ${target}`;
  if (source === null && step.fstype === null) return `set propagation of ${target}`;
  const kind = step.fstype && step.fstype !== source ? ` (${step.fstype})` : '';
  return `mount ${source ?? step.fstype}${kind} on ${target}`;
}

/** `part`: which part of the step failed, when the child said (the error's value). */
export function describeStep(step: Step | undefined, part: StepPart = StepPart.Step): string {
  return describeWholeStep(step) + (PART_WORDS[part] ?? '');
}

function describeWholeStep(step: Step | undefined): string {
  if (!step) return 'start the container process';
  switch (step.op) {
    case 'mount':
      return describeMount(step);
    case 'setns':
      return `join ${step.ns} namespace ${step.path}`;
    case 'unshare':
      return 'unshare namespaces';
    case 'loopbackUp':
      return 'bring up lo';
    case 'forkIntoPidns':
      return 'fork into the PID namespace';
    case 'sync':
      return 'wait for the runtime';
    case 'openRoot':
      return `open root ${step.path}`;
    case 'mask':
      return `mask ${step.path.inRoot}`;
    case 'mknod':
      return `mknod ${step.path.inRoot}`;
    case 'symlink':
      return `symlink ${step.path.inRoot} -> ${step.target}`;
    case 'pivotRoot':
      return 'pivot_root';
    case 'moveRoot':
      return 'move the root to / and chroot';
    case 'chroot':
      return 'chroot';
    case 'writeProc':
      return step.path.startsWith('sys/') ? `write sysctl ${step.path.slice(4).replaceAll('/', '.')}` : `write /proc/${step.path}`;
    case 'sethostname':
      return `sethostname ${step.name}`;
    case 'setdomainname':
      return `setdomainname ${step.name}`;
    case 'rlimit':
      return `setrlimit RLIMIT_${(RLIMIT_NAMES[step.resource] ?? String(step.resource)).toUpperCase()} ${rlimitText(step.soft)}:${rlimitText(step.hard)}`;
    case 'setsid':
      return 'setsid';
    case 'console':
      return 'set up the console';
    case 'execFifo':
      return 'wait on the exec FIFO';
    case 'bounding':
      return 'drop capabilities from the bounding set';
    case 'keepCaps':
      return 'keep capabilities';
    case 'setgroups':
      return `setgroups ${step.gids.join(',')}`;
    case 'setgid':
      return `setgid ${step.gid}`;
    case 'setuid':
      return `setuid ${step.uid}`;
    case 'capset':
      return 'set capabilities';
    case 'ambient':
      return 'raise ambient capabilities';
    case 'noNewPrivs':
      return 'set no_new_privs';
    case 'seccomp':
      return 'load the seccomp filter';
    case 'umask':
      return 'umask';
    case 'chdir':
      return `chdir ${step.path}`;
    case 'exec':
      return `exec ${step.argv[0]}`;
  }
}
