// --explain of a container's start, for every front end (berth-runtime, the engine): the cgroup's
// writes first, as they happen before the clone, then the child's steps (the rootfs's overlay
// mount among them).
import { renderCgroupOps } from '../cgroups/explain.js';
import type { CgroupOp } from '../cgroups/driver.js';
import { renderPlan } from '../explain/render.js';
import type { Plan } from '../kernel/plan.js';

export function renderRunPlan(plan: Plan, rootfs: string, cgroupOps: CgroupOp[] = []): string[] {
  return [...renderCgroupOps(cgroupOps), ...renderPlan(plan, { rootfs })];
}
