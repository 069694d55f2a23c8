// A rootfs that is itself a mount (an overlay of image layers), made by the container's child in
// its own mount namespace: no mount of it ever exists on the host, so none can be left behind by a
// crash. The engine asks for it with an annotation, the OCI spec's place for a runtime's
// extensions; a plain bundle has none and its rootfs is used as it is.
import { isAbsolute } from 'node:path';
import type { Step } from '../kernel/plan.js';
import { SpecError } from './spec.js';
import type { Spec } from '../oci/runtime-spec.js';

export const ROOTFS_OVERLAY_ANNOTATION = 'org.berth.rootfs.overlay';

export interface RootfsOverlay {
  /** The directory the lower dirs are relative to (the child changes into it: one page of mount data holds ~100 short names). */
  dir: string;
  /** Lower layers, top first, relative to `dir`. */
  lower: string[];
  upper: string;
  work: string;
}

function field(name: string): string {
  return `annotations.${ROOTFS_OVERLAY_ANNOTATION}.${name}`;
}

export function rootfsOverlayOf(spec: Spec): RootfsOverlay | null {
  const text = spec.annotations?.[ROOTFS_OVERLAY_ANNOTATION];
  if (text === undefined) return null;
  let o: RootfsOverlay;
  try {
    o = JSON.parse(text) as RootfsOverlay;
  } catch {
    throw new SpecError('config.json', `annotations.${ROOTFS_OVERLAY_ANNOTATION}`, 'not JSON');
  }
  for (const key of ['dir', 'upper', 'work'] as const) {
    if (typeof o[key] !== 'string' || !isAbsolute(o[key])) throw new SpecError('config.json', field(key), 'must be an absolute path');
  }
  if (!Array.isArray(o.lower) || o.lower.length === 0 || o.lower.some((l) => typeof l !== 'string' || l === '' || /[:,]/.test(l))) {
    throw new SpecError('config.json', field('lower'), 'must be a non-empty list of paths without ":" or ","');
  }
  return o;
}

/** `cd DIR && mount -t overlay overlay -o lowerdir=...,upperdir=...,workdir=... ROOTFS`, in the child. */
export function rootfsOverlaySteps(overlay: RootfsOverlay, rootfs: string): Step[] {
  return [
    { op: 'chdir', path: overlay.dir },
    {
      op: 'mount',
      source: { path: 'overlay' },
      target: { path: rootfs },
      fstype: 'overlay',
      flags: 0,
      data: `lowerdir=${overlay.lower.join(':')},upperdir=${overlay.upper},workdir=${overlay.work}`,
      create: 'none',
    },
  ];
}
