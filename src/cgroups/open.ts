// The cgroups driver factory: which driver serves this host. Apart from the interface (driver.ts),
// which both drivers implement, so that the drivers never import the module that picks them.
import { detectCgroupLayout, type CgroupLayout } from './detect.js';
import type { CgroupDriver } from './driver.js';
import { CgroupError } from './errors.js';
import { V1Driver } from './v1.js';
import { V2Driver } from './v2.js';

export interface OpenOptions {
  /** The host's layout; detected from /proc/self/mountinfo when absent. */
  layout?: CgroupLayout;
  /** Where the v2 tree is mounted, when not the layout's: tests point it at a fake tree. Implies v2. */
  mountRoot?: string;
}

/**
 * The driver for the cgroup at `path` (from `parseCgroupsPath`). v2 on a unified host; v1 on a
 * legacy or hybrid one. On a hybrid host the cgroup2 mount has no controllers (they are all
 * bound to the v1 hierarchies), so limits are v1's; the v1 driver still places processes in the
 * cgroup2 tree too, so that cgroup.kill and a cgroup namespace there see the container.
 */
export function openCgroup(path: string, opts: OpenOptions = {}): CgroupDriver {
  if (!path.startsWith('/') || path === '/' || path.split('/').slice(1).some((c) => c === '' || c === '.' || c === '..')) {
    throw new CgroupError(`cgroup: ${JSON.stringify(path)} is not a cgroup path like /berth/<id> (see parseCgroupsPath)`);
  }
  if (opts.mountRoot !== undefined) return new V2Driver(path, opts.mountRoot);
  const layout = opts.layout ?? detectCgroupLayout();
  if (layout.mode === 'unified') {
    if (layout.v2 === null) throw new CgroupError('cgroup: no cgroup2 mount found');
    return new V2Driver(path, layout.v2);
  }
  return new V1Driver(path, layout);
}
