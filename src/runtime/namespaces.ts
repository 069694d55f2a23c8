// Which namespaces a container creates or joins, and the steps that get the child into them.
import { NS_FLAGS, SyncTag, type NamespaceKind, type Step } from '../kernel/plan.js';
import type { Spec } from '../oci/runtime-spec.js';

export interface NamespacePlan {
  /** Namespaces the clone itself creates (the fast path: nothing to join). */
  cloneFlags: number;
  /** Steps up to and including the `Created` pause, if one is needed. */
  steps: Step[];
  creates: Set<NamespaceKind>;
  joins: Map<NamespaceKind, string>;
}

/** The order runc joins in: the user namespace first, since it grants rights over the others. */
const JOIN_ORDER: NamespaceKind[] = ['user', 'ipc', 'uts', 'network', 'pid', 'mount', 'cgroup', 'time'];

function flagsOf(kinds: Iterable<NamespaceKind>): number {
  let flags = 0;
  for (const kind of kinds) flags |= NS_FLAGS[kind];
  return flags;
}

/**
 * `pauseAfterCreate`: the parent must act between clone and the rest (id maps, cgroup placement).
 * A cgroup namespace is always unshared after that pause, so that its root is the container's
 * cgroup rather than the runtime's.
 */
export function planNamespaces(spec: Spec, pauseAfterCreate: boolean): NamespacePlan {
  const creates = new Set<NamespaceKind>();
  const joins = new Map<NamespaceKind, string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (ns.path) joins.set(ns.type, ns.path);
    else creates.add(ns.type);
  }
  const pause = pauseAfterCreate || creates.has('user');
  const late = new Set<NamespaceKind>(creates.has('cgroup') ? ['cgroup'] : []);
  const steps: Step[] = [];
  let cloneFlags: number;

  // A new user namespace is made by berth-init itself, with the others after it (so that they are
  // owned by it): made by the clone, it would leave the child's ids unmapped through berth-init's
  // execve, and a process exec'd without a mapped uid loses every capability in the namespace.
  if (joins.size === 0 && !creates.has('user')) {
    // Fast path: one clone creates everything but the late ones.
    cloneFlags = flagsOf([...creates].filter((k) => !late.has(k)));
  } else {
    // Joining, or a new user namespace: setns first (user first), then unshare what is new, so that
    // new namespaces are owned by the (joined or new) user namespace; PID and time namespaces only
    // take children, hence the fork.
    cloneFlags = 0;
    for (const kind of JOIN_ORDER) {
      const path = joins.get(kind);
      if (path) steps.push({ op: 'setns', path, ns: kind });
    }
    const early = [...creates].filter((k) => !late.has(k));
    if (early.length) steps.push({ op: 'unshare', flags: flagsOf(early) });
  }
  if (pause) steps.push({ op: 'sync', tag: SyncTag.Created });
  if (late.size) steps.push({ op: 'unshare', flags: flagsOf(late) });
  const forkNeeded = joins.has('pid') || joins.has('time') || (cloneFlags === 0 && (creates.has('pid') || creates.has('time')));
  if (forkNeeded) steps.push({ op: 'forkIntoPidns' });
  return { cloneFlags, steps, creates, joins };
}

/**
 * In a new user namespace the child's ids are still the host's root, unmapped there: what it
 * creates would fail with EOVERFLOW. It becomes the namespace's root — but only once the rootfs is
 * open, since the host's root can reach a rootfs under a directory the mapped root cannot enter.
 */
export function becomeNamespaceRoot(spec: Spec): Step[] {
  const userNs = spec.linux?.namespaces?.find((ns) => ns.type === 'user');
  return userNs && !userNs.path ? [{ op: 'setgid', gid: 0 }, { op: 'setuid', uid: 0 }] : [];
}

/** Whether the container has its own (new or joined) namespace of this kind. */
export function hasNamespace(spec: Spec, kind: NamespaceKind): boolean {
  return (spec.linux?.namespaces ?? []).some((ns) => ns.type === kind);
}

/**
 * The host's uid and gid of the container's root: its mapped ids in a new user namespace (what the
 * exec FIFO is given, as runc gives it), the host's root otherwise (and in a joined namespace,
 * whose maps are not the spec's to say).
 */
export function rootOnHost(spec: Spec): { uid: number; gid: number } {
  const linux = spec.linux ?? {};
  const userNs = linux.namespaces?.find((ns) => ns.type === 'user');
  if (!userNs || userNs.path) return { uid: 0, gid: 0 };
  const hostId = (maps: { containerID: number; hostID: number; size: number }[] = []) => {
    const m = maps.find((map) => map.containerID <= 0 && 0 < map.containerID + map.size);
    return m ? m.hostID - m.containerID : 0;
  };
  return { uid: hostId(linux.uidMappings), gid: hostId(linux.gidMappings) };
}
