// The seccomp profile that Debian's containers-common installs (/usr/share/containers/seccomp.json,
// podman's default), turned into runtime-spec form for one set of capabilities on x86_64, as
// podman does it: a rule whose `includes` the container does not meet, or whose `excludes` it
// does, is left out. Tests use it to run containers under a real engine's profile; the engine's
// own conversion is the engine's business.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import type { Seccomp, SeccompRule } from '../../src/oci/runtime-spec.js';

export const CONTAINERS_COMMON_PROFILE = '/usr/share/containers/seccomp.json';

interface Conditions {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface ContainersRule extends Omit<SeccompRule, 'args'> {
  includes?: Conditions;
  excludes?: Conditions;
  args?: SeccompRule['args'] | null;
}

interface ContainersProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  archMap?: { architecture: string; subArchitectures: string[] }[];
  syscalls: ContainersRule[];
}

/** "5.8" ≤ this kernel. */
function kernelAtLeast(version: string): boolean {
  const [major, minor] = release().split('.').map(Number);
  const [wantMajor, wantMinor] = version.split('.').map(Number);
  return major > wantMajor || (major === wantMajor && minor >= (wantMinor ?? 0));
}

function applies(rule: ContainersRule, caps: string[]): boolean {
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  if (inc.caps?.length && !inc.caps.every((c) => caps.includes(c))) return false;
  if (inc.arches?.length && !inc.arches.includes('amd64')) return false;
  if (inc.minKernel && !kernelAtLeast(inc.minKernel)) return false;
  if (exc.caps?.some((c) => caps.includes(c))) return false;
  if (exc.arches?.includes('amd64')) return false;
  return true;
}

export function containersCommonProfile(caps: string[]): Seccomp {
  const source = JSON.parse(readFileSync(CONTAINERS_COMMON_PROFILE, 'utf8')) as ContainersProfile;
  const native = source.archMap?.find((a) => a.architecture === 'SCMP_ARCH_X86_64');
  const syscalls = source.syscalls.filter((rule) => applies(rule, caps)).map((rule): SeccompRule => {
    const out: SeccompRule = { names: rule.names, action: rule.action };
    if (rule.errnoRet !== undefined && rule.errnoRet !== null) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args;
    return out;
  });
  return {
    defaultAction: source.defaultAction,
    ...(source.defaultErrnoRet !== undefined ? { defaultErrnoRet: source.defaultErrnoRet } : {}),
    architectures: native ? [native.architecture, ...native.subArchitectures] : ['SCMP_ARCH_X86_64'],
    syscalls,
  };
}
