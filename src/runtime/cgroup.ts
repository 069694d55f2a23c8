// A container's cgroup as the runtime sees it: where it is (linux.cgroupsPath) and what it holds
// (linux.resources plus the runtime's default device rules).
import { containerDeviceRules } from '../cgroups/device-rules.js';
import type { CgroupDriver } from '../cgroups/driver.js';
import { openCgroup } from '../cgroups/open.js';
import { parseCgroupsPath } from '../cgroups/path.js';
import type { Resources, Spec } from '../oci/runtime-spec.js';

export function cgroupPathOf(spec: Spec, id: string): string {
  return parseCgroupsPath(spec.linux?.cgroupsPath, id);
}

/** The resources the cgroup is made with: the spec's, its device rules followed by the defaults. */
export function containerResources(spec: Spec): Resources {
  const resources = spec.linux?.resources ?? {};
  return { ...resources, devices: containerDeviceRules(resources.devices) };
}

export function cgroupOf(path: string): CgroupDriver {
  return openCgroup(path);
}
