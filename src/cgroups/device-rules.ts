// The device rules a container's cgroup gets: the spec's, then the runtime's defaults (runc's
// list), later rules winning — so that deny-all in a spec still leaves /dev/null usable.
import type { DeviceRule } from '../oci/runtime-spec.js';

export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = [
  // mknod of any node is allowed; using one is what the rules below decide.
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // pts/*
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

/** The rules in force for a container, in order (last match wins). */
export function containerDeviceRules(specRules: readonly DeviceRule[] = []): DeviceRule[] {
  return [...specRules, ...DEFAULT_DEVICE_RULES];
}

/** "c 1:3 rwm", as cgroup v1's devices.allow/deny take it (and as people read it). */
export function formatDeviceRule(rule: DeviceRule): string {
  const num = (n: number | undefined) => (n === undefined || n < 0 ? '*' : String(n));
  const type = rule.type && rule.type !== 'a' ? rule.type : 'a';
  if (type === 'a') return 'a';
  return `${type} ${num(rule.major)}:${num(rule.minor)} ${rule.access || 'rwm'}`;
}
