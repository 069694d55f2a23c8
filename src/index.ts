// berth as a library: start sandboxes from Node with the same runtime the CLI uses.
export { Runtime, RuntimeError, loadBundle, exitCodeOf, type CreateOptions } from './runtime/container.js';
export { buildPlan, type PlanOptions } from './runtime/build-plan.js';
export { buildJoinPlan } from './runtime/join-plan.js';
export { defaultSpec } from './runtime/default-spec.js';
export { parseSpec, validateSpec, SpecError } from './runtime/spec.js';
export type { Spec, Process } from './oci/runtime-spec.js';
export { spawnPlan, PlanProcess, type ExitStatus } from './kernel/spawn.js';
export { KernelError, StepError } from './kernel/errors.js';
export type { Plan, Step } from './kernel/plan.js';
export { renderPlan } from './explain/render.js';
export { detectCgroupLayout, type CgroupLayout } from './cgroups/detect.js';
