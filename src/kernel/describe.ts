// A plan step in a few words, for error messages: "mount proc on /proc", "exec /bin/sh".
import { MS, pathOf, type Step } from './plan.js';

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

export function describeStep(step: Step | undefined): string {
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
    case 'writeFile':
      return `write ${step.path}`;
    case 'sethostname':
      return `sethostname ${step.name}`;
    case 'setdomainname':
      return `setdomainname ${step.name}`;
    case 'rlimit':
      return `setrlimit ${step.resource}`;
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
