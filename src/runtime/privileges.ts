// Who the process is when it execs: groups, uid/gid, the five capability sets, no_new_privs, umask.
import { readFileSync } from 'node:fs';
import type { Step } from '../kernel/plan.js';
import { CAPABILITIES, capabilityMask } from './capabilities.js';
import type { Process } from './spec.js';

/** The highest capability this kernel knows; bits above it cannot be dropped (there is nothing there). */
function lastCapability(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    return CAPABILITIES.length - 1;
  }
}

/**
 * In the order the kernel needs: the bounding set is pruned while we still hold CAP_SETPCAP;
 * keepcaps lets the permitted set survive the uid change; setgroups and setgid need CAP_SETGID,
 * so they come before setuid; capset then leaves exactly the spec's sets; ambient last (it needs
 * the capability permitted and inheritable); no_new_privs after all privilege changes.
 */
export function privilegeSteps(proc: Process): Step[] {
  const caps = proc.capabilities ?? {};
  const user = proc.user ?? { uid: 0, gid: 0 };
  const steps: Step[] = [
    { op: 'bounding', keep: capabilityMask(caps.bounding ?? []), lastCap: lastCapability() },
    { op: 'keepCaps' },
    { op: 'setgroups', gids: user.additionalGids ?? [] },
    { op: 'setgid', gid: user.gid },
    { op: 'setuid', uid: user.uid },
    {
      op: 'capset',
      effective: capabilityMask(caps.effective ?? []),
      permitted: capabilityMask(caps.permitted ?? []),
      inheritable: capabilityMask(caps.inheritable ?? []),
    },
  ];
  const ambient = capabilityMask(caps.ambient ?? []);
  if (ambient) steps.push({ op: 'ambient', caps: ambient });
  if (proc.noNewPrivileges) steps.push({ op: 'noNewPrivs' });
  steps.push({ op: 'umask', mask: user.umask ?? 0o022 });
  return steps;
}
