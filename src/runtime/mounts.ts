// The container's mounts: the rootfs made a mount of its own, then the spec's mounts inside it.
import { statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { MS, type CreateKind, type Step } from '../kernel/plan.js';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { parseMountOptions, propagationFlags } from './mount-options.js';
import { hasNamespace } from './namespaces.js';
import { rootfsOverlayOf, rootfsOverlaySteps } from './rootfs-mount.js';
import type { Mount, Spec } from '../oci/runtime-spec.js';

export interface MountContext {
  bundle: string;
  rootfs: string;
  /** In a user namespace, a remount must keep the flags the kernel locked (nosuid, nodev...). */
  inUserNs: boolean;
  /** The container's cgroup, cgroupfs-relative (`/berth/<id>`). */
  cgroupPath: string;
}

/**
 * The propagation asked of the container's root (rslave by default): applied to "/" before
 * anything is mounted, so that no mount of the container reaches the host, except `shared` and
 * `unbindable`, which only the pivoted root can take: under a shared parent pivot_root fails
 * (EINVAL), and an unbindable root cannot be bound onto itself. Those are applied after the pivot
 * (`rootPropagationSteps`), as runc and crun apply them, with "/" rslave until then.
 */
function rootPropagation(spec: Spec): { before: number; after: number } {
  const name = spec.linux?.rootfsPropagation;
  const requested = name ? propagationFlags(name) : MS.SLAVE | MS.REC;
  if (requested & (MS.SHARED | MS.UNBINDABLE)) return { before: MS.SLAVE | MS.REC, after: requested };
  return { before: requested, after: 0 };
}

/**
 * Before anything is mounted: stop mounts from propagating back to the host (see rootPropagation),
 * mount the rootfs overlay when the engine asked for one, then bind the rootfs onto itself so that
 * it is a mount point that pivot_root can take, and open it: every later path is resolved under it.
 */
export function rootfsSteps(spec: Spec, ctx: MountContext): Step[] {
  const overlay = rootfsOverlayOf(spec);
  const { before, after } = rootPropagation(spec);
  const steps: Step[] = [
    { op: 'mount', source: null, target: { path: '/' }, fstype: null, flags: before, data: null, create: 'none' },
    ...(overlay ? rootfsOverlaySteps(overlay, ctx.rootfs) : []),
    { op: 'mount', source: { path: ctx.rootfs }, target: { path: ctx.rootfs }, fstype: 'bind', flags: MS.BIND | MS.REC, data: null, create: 'none' },
  ];
  // A root to be shared after the pivot is a peer group of its own, never the host's.
  if (after) steps.push({ op: 'mount', source: null, target: { path: ctx.rootfs }, fstype: null, flags: MS.PRIVATE, data: null, create: 'none' });
  steps.push({ op: 'openRoot', path: ctx.rootfs });
  return steps;
}

/** After the pivot and the root's last mounts: `shared` or `unbindable` on the container's "/". */
export function rootPropagationSteps(spec: Spec): Step[] {
  const { after } = rootPropagation(spec);
  return after ? [{ op: 'mount', source: null, target: { inRoot: '/' }, fstype: null, flags: after, data: null, create: 'none' }] : [];
}

/** The filesystems that show the kernel itself, where masked and read-only paths live. */
const KERNEL_VIEWS = new Set(['proc', 'sysfs']);

/** The flags of one mount (not of the operation): what a bind sets on its new mount. */
const PER_MOUNT_FLAGS = MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.NOATIME | MS.NODIRATIME | MS.RELATIME | MS.STRICTATIME | MS.NOSYMFOLLOW;

/** A bind source: absolute, or relative to the bundle (spec: "relative to the bundle"). */
function bindSource(source: string, bundle: string): string {
  return isAbsolute(source) ? source : resolve(bundle, source);
}

/** A bind of a file needs a file to mount on; anything else a directory. */
function bindTargetKind(source: string): CreateKind {
  try {
    return statSync(source).isDirectory() ? 'dir' : 'file';
  } catch {
    return 'dir'; // the mount step then fails naming the missing source
  }
}

/**
 * A bind takes no flags of its own with mount(2): ro, nosuid... are set on the new mount before it
 * is attached (the executor's open_tree, mount_setattr, move_mount), never by a remount that would
 * find the target by path a second time.
 */
function bindSteps(m: Mount, ctx: MountContext): Step[] {
  const opts = parseMountOptions(m.options);
  const source = bindSource(m.source ?? '', ctx.bundle);
  return [
    {
      op: 'mount',
      source: { path: source },
      target: { inRoot: m.destination },
      fstype: 'bind',
      flags: MS.BIND | (opts.recursive ? MS.REC : 0) | (opts.flags & PER_MOUNT_FLAGS),
      data: null,
      create: bindTargetKind(source),
    },
  ];
}

/**
 * A `cgroup` mount as the host's layout allows it: cgroup2 where it is unified; otherwise a
 * tmpfs holding one mount per v1 hierarchy (and the cgroup2 one on a hybrid host), read-only.
 * With a cgroup namespace each is a new mount whose root is the container's own cgroup. Without
 * one a new mount would show the host's whole tree: as runc does, the container's own cgroup
 * directories on the host are bound there instead.
 */
function cgroupSteps(m: Mount, ctx: MountContext, cgroupNs: boolean): Step[] {
  const opts = parseMountOptions(m.options);
  const flags = opts.flags | MS.NOSUID | MS.NODEV | MS.NOEXEC;
  const layout = detectCgroupLayout();
  const target = m.destination;
  const hierarchy = (hostMount: string, at: string, fstype: 'cgroup' | 'cgroup2', data: string | null): Step[] => {
    if (cgroupNs) return [{ op: 'mount', source: { path: fstype }, target: { inRoot: at }, fstype, flags, data, create: 'dir' }];
    const own = { path: join(hostMount, ctx.cgroupPath) };
    return [{ op: 'mount', source: own, target: { inRoot: at }, fstype: 'bind', flags: MS.BIND | (flags & PER_MOUNT_FLAGS), data: null, create: 'dir' }];
  };
  if (layout.mode === 'unified') return hierarchy(layout.v2 as string, target, 'cgroup2', null);
  const steps: Step[] = [
    { op: 'mount', source: { path: 'tmpfs' }, target: { inRoot: target }, fstype: 'tmpfs', flags: MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=755', create: 'dir' },
  ];
  for (const h of layout.v1) {
    const name = h.mountpoint.split('/').pop() as string;
    steps.push(...hierarchy(h.mountpoint, join(target, name), 'cgroup', h.controllers.join(',')));
  }
  if (layout.v2) {
    const name = layout.v2.split('/').pop() as string;
    steps.push(...hierarchy(layout.v2, join(target, name), 'cgroup2', null));
  }
  steps.push({ op: 'mount', source: null, target: { inRoot: target }, fstype: null, flags: MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC, data: 'mode=755', create: 'none' });
  return steps;
}

function mountSteps(m: Mount, ctx: MountContext, cgroupNs: boolean): Step[] {
  const opts = parseMountOptions(m.options);
  let steps: Step[];
  if (opts.bind || m.type === 'bind') steps = bindSteps(m, ctx);
  else if (m.type === 'cgroup' || m.type === 'cgroup2') steps = cgroupSteps(m, ctx, cgroupNs);
  else {
    const fstype = m.type ?? 'none';
    steps = [
      {
        op: 'mount',
        source: { path: m.source ?? fstype },
        target: { inRoot: m.destination },
        fstype,
        flags: opts.flags,
        data: opts.data || null,
        create: 'dir',
        // As runc: procfs and sysfs go on an ordinary directory, never through a symlink, so that
        // the masked and read-only paths made on them later (also through none) are theirs.
        ...(KERNEL_VIEWS.has(fstype) ? { noSymlinks: true } : {}),
      },
    ];
  }
  if (opts.propagation) {
    steps.push({ op: 'mount', source: null, target: { inRoot: m.destination }, fstype: null, flags: opts.propagation, data: null, create: 'none' });
  }
  return steps;
}

export function specMountSteps(spec: Spec, ctx: MountContext): Step[] {
  const cgroupNs = hasNamespace(spec, 'cgroup');
  return (spec.mounts ?? []).flatMap((m) => mountSteps(m, ctx, cgroupNs));
}

/** Whether the spec mounts devpts at /dev/pts (then /dev/ptmx points into it). */
export function mountsDevpts(spec: Spec): boolean {
  return (spec.mounts ?? []).some((m) => m.type === 'devpts' && m.destination.replace(/\/+$/, '') === '/dev/pts');
}

/**
 * After the pivot: read-only paths bound onto themselves read-only (resolved once, the flag set
 * before the bind is attached), masked paths hidden, the root itself read-only.
 */
export function finalMountSteps(spec: Spec, ctx: MountContext): Step[] {
  const steps: Step[] = [];
  for (const path of spec.linux?.readonlyPaths ?? []) {
    const target = { inRoot: path };
    steps.push({ op: 'mount', source: target, target, fstype: null, flags: MS.BIND | MS.REC | MS.RDONLY, data: null, create: 'none', optional: true, noSymlinks: true });
  }
  for (const path of spec.linux?.maskedPaths ?? []) steps.push({ op: 'mask', path: { inRoot: path } });
  if (spec.root.readonly) {
    steps.push({ op: 'mount', source: null, target: { inRoot: '/' }, fstype: null, flags: MS.BIND | MS.REMOUNT | MS.RDONLY, data: null, create: 'none', keepFlags: ctx.inUserNs });
  }
  return steps;
}
