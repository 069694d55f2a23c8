// Who the process is when it execs: groups, uid/gid, the five capability sets, no_new_privs, umask,
// and the seccomp filter it runs under.
import { readFileSync } from 'node:fs';
import { SyncTag, type Step } from '../kernel/plan.js';
import { CAPABILITIES, capabilityMask } from '../kernel/capabilities.js';
import type { SeccompFilter } from './seccomp.js';
import type { Process } from '../oci/runtime-spec.js';
import { isMissing } from '../errors.js';

/** The highest capability this kernel knows; bits above it cannot be dropped (there is nothing there). */
export function lastCapability(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch (err) {
    if (!isMissing(err)) throw err;
    return CAPABILITIES.length - 1; // a kernel older than the file (3.2): the table's last
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
  const ambient = capabilityMask(raisableAmbient(proc));
  if (ambient) steps.push({ op: 'ambient', caps: ambient });
  if (proc.noNewPrivileges) steps.push({ op: 'noNewPrivs' });
  steps.push({ op: 'umask', mask: user.umask ?? 0o022 });
  return steps;
}

/**
 * The ambient capabilities the kernel lets the process raise: those also in its inheritable and
 * permitted sets. `runc spec` asks for ambient capabilities with no inheritable set; runc and crun
 * raise what they can and go on, and so does berth (`unraisableAmbient` names the rest to warn of).
 */
function raisableAmbient(proc: Process): string[] {
  const caps = proc.capabilities ?? {};
  const inheritable = new Set(caps.inheritable ?? []);
  const permitted = new Set(caps.permitted ?? []);
  return (caps.ambient ?? []).filter((cap) => inheritable.has(cap) && permitted.has(cap));
}

/** The warning for ambient capabilities that are not raised, or null when all are. */
export function unraisableAmbient(proc: Process): string | null {
  const raisable = new Set(raisableAmbient(proc));
  const skipped = (proc.capabilities?.ambient ?? []).filter((cap) => !raisable.has(cap));
  if (!skipped.length) return null;
  return `process.capabilities.ambient: ${skipped.join(', ')} not raised: an ambient capability must also be in the inheritable and permitted sets`;
}

/** A filter to load, and (SCMP_ACT_NOTIFY) the child's end of the socket its listener is sent on. */
export interface SeccompLoad {
  filter: SeccompFilter;
  listenerSocketFd: number | null;
}

const CAP_SYS_ADMIN = capabilityMask(['CAP_SYS_ADMIN']);

/**
 * `steps`, the process's last steps before exec (privileges, chdir, the exec FIFO), with the
 * filter loaded as late as the kernel lets it be, so that the runtime's own syscalls need not be
 * in the profile:
 * - With no_new_privs, or CAP_SYS_ADMIN kept, loading needs nothing more: it is the last step
 *   before exec; with a notify listener, before the exec FIFO, while `create` is still there to
 *   hand the listener to the agent.
 * - Otherwise the kernel takes a filter only from a holder of CAP_SYS_ADMIN, and no_new_privs is
 *   not ours to add (it would disarm the setuid programs of an image that docker and runc leave
 *   working). So CAP_SYS_ADMIN stays effective until the filter is loaded, after the user
 *   changes: the spec's capability sets plus CAP_SYS_ADMIN, then the rest (chdir), load, then the
 *   spec's sets exactly.
 *   runc loads earlier still, before its user and capability changes.
 */
export function placeSeccomp(steps: Step[], proc: Process, load: SeccompLoad | null): Step[] {
  if (!load) return steps;
  const loadSteps: Step[] = [
    { op: 'seccomp', program: load.filter.program, flags: load.filter.flags, listenerSocketFd: load.listenerSocketFd, summary: load.filter.summary },
  ];
  if (load.listenerSocketFd !== null) loadSteps.push({ op: 'sync', tag: SyncTag.SeccompListener });
  const keepsSysAdmin = (proc.capabilities?.effective ?? []).includes('CAP_SYS_ADMIN');
  if (proc.noNewPrivileges || keepsSysAdmin) {
    const fifo = steps.findIndex((step) => step.op === 'execFifo');
    const at = load.listenerSocketFd !== null && fifo >= 0 ? fifo : steps.length;
    return [...steps.slice(0, at), ...loadSteps, ...steps.slice(at)];
  }
  const at = steps.findIndex((step) => step.op === 'capset');
  const capset = steps[at];
  if (capset?.op !== 'capset') throw new Error('plan: a seccomp filter needs the capability step to be placed after');
  const withSysAdmin: Step = { ...capset, effective: capset.effective | CAP_SYS_ADMIN, permitted: capset.permitted | CAP_SYS_ADMIN };
  // Loaded after the steps that make syscalls of their own (chdir checks where it landed with
  // getcwd, which a profile may deny), before the wait for start, as in the case above.
  const fifo = steps.findIndex((step) => step.op === 'execFifo');
  const loadAt = fifo >= 0 ? fifo : steps.length;
  return [...steps.slice(0, at), withSysAdmin, ...steps.slice(at + 1, loadAt), ...loadSteps, capset, ...steps.slice(loadAt)];
}
