// Seccomp profiles in docker's and podman's file format → runtime-spec `linux.seccomp` for one
// container: the default (containers-common's, which Debian installs for podman) with berth's
// overlay on top, or a user's profile (`--security-opt seccomp=PATH`), as is.
//
// The file format is runtime-spec's plus a few keys: `archMap` (the native architecture's entry
// gives the filter's architectures), `name` beside `names`, and `includes`/`excludes` per rule
// (capabilities, architectures, a minimum kernel), which decide whether the rule is in this
// container's filter at all. Capabilities are judged against the bounding set, as docker and
// podman do, so --cap-add/--cap-drop move rules in and out.
import { readFileSync } from 'node:fs';
import { arch as hostArch, constants, release } from 'node:os';
import type { Seccomp, SeccompRule } from '../oci/runtime-spec.js';
import { SECCOMP_ACTIONS, SECCOMP_OPERATORS } from '../runtime/seccomp.js';
import { isMissing } from '../errors.js';
import { EngineUsageError } from './container-spec.js';

/** containers-common's profile, podman's default (Debian: golang-github-containers-common). */
export const DEFAULT_SECCOMP_PROFILE = '/usr/share/containers/seccomp.json';
export const DEFAULT_SECCOMP_PACKAGE = 'golang-github-containers-common';

interface Filter {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

interface FileRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: SeccompRule['args'] | null;
  includes?: Filter;
  excludes?: Filter;
}

interface FileProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures?: string[] }[];
  flags?: string[];
  listenerPath?: string;
  listenerMetadata?: string;
  syscalls?: FileRule[];
}

/** What the rules are judged against. */
export interface ProfileTarget {
  /** The container's bounding set (CAP_ names). */
  bounding: readonly string[];
  /** Go's name of the architecture (amd64, arm64...), the names profiles use. */
  arch: string;
  /** The running kernel's version, "6.1". */
  kernel: string;
}

/** Node's architecture names → Go's (profiles') and libseccomp's native one. */
const ARCHES: Record<string, { go: string; scmp: string }> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  arm: { go: 'arm', scmp: 'SCMP_ARCH_ARM' },
  ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
  ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
  loong64: { go: 'loong64', scmp: 'SCMP_ARCH_LOONGARCH64' },
};

/** This host as a profile sees it, for `bounding`. */
export function hostTarget(bounding: readonly string[]): ProfileTarget {
  return { bounding, arch: ARCHES[hostArch()]?.go ?? hostArch(), kernel: release() };
}

function nativeScmpArch(): string | undefined {
  return ARCHES[hostArch()]?.scmp;
}

/** "5.8" ≤ kernel ("6.1.0-13-amd64"), by major and minor. */
function kernelAtLeast(kernel: string, wanted: string): boolean {
  const [major, minor] = kernel.split('.').map((n) => parseInt(n, 10));
  const [wantMajor, wantMinor] = wanted.split('.').map((n) => parseInt(n, 10));
  return major > wantMajor || (major === wantMajor && minor >= (wantMinor || 0));
}

/** Docker's and podman's rule: every included capability held, none excluded; arches and kernel likewise. */
function ruleApplies(rule: FileRule, t: ProfileTarget): boolean {
  const inc = rule.includes ?? {};
  const exc = rule.excludes ?? {};
  if (exc.arches?.includes(t.arch)) return false;
  if (exc.caps?.some((c) => t.bounding.includes(c))) return false;
  if (exc.minKernel && kernelAtLeast(t.kernel, exc.minKernel)) return false;
  if (inc.arches?.length && !inc.arches.includes(t.arch)) return false;
  if (inc.caps?.length && !inc.caps.every((c) => t.bounding.includes(c))) return false;
  if (inc.minKernel && !kernelAtLeast(t.kernel, inc.minKernel)) return false;
  return true;
}

function bad(file: string, field: string, problem: string): never {
  throw new EngineUsageError(`seccomp profile ${file}: ${field}: ${problem}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** Shape and names of a profile file, each error naming its field; actions and operators as the runtime knows them. */
function checkProfile(data: unknown, file: string): FileProfile {
  if (!isObject(data)) bad(file, '(top)', 'must be a JSON object');
  if (typeof data.defaultAction !== 'string') bad(file, 'defaultAction', 'is required (a string such as SCMP_ACT_ERRNO)');
  if (!SECCOMP_ACTIONS.includes(data.defaultAction)) bad(file, 'defaultAction', `unknown action ${JSON.stringify(data.defaultAction)}`);
  if (data.defaultErrnoRet !== undefined && !Number.isInteger(data.defaultErrnoRet)) bad(file, 'defaultErrnoRet', 'must be an integer');
  for (const key of ['architectures', 'flags'] as const) {
    if (data[key] !== undefined && data[key] !== null && !isStringArray(data[key])) bad(file, key, 'must be an array of strings');
  }
  if (data.archMap !== undefined && data.archMap !== null) {
    if (!Array.isArray(data.archMap)) bad(file, 'archMap', 'must be an array');
    data.archMap.forEach((m, i) => {
      if (!isObject(m) || typeof m.architecture !== 'string') bad(file, `archMap[${i}].architecture`, 'must be a string');
      if (m.subArchitectures !== undefined && m.subArchitectures !== null && !isStringArray(m.subArchitectures)) bad(file, `archMap[${i}].subArchitectures`, 'must be an array of strings');
    });
    if ((data.architectures as string[] | undefined)?.length && data.archMap.length) bad(file, 'archMap', 'cannot be given with architectures: use one of them');
  }
  if (data.syscalls !== undefined && data.syscalls !== null && !Array.isArray(data.syscalls)) bad(file, 'syscalls', 'must be an array');
  ((data.syscalls ?? []) as unknown[]).forEach((rule, i) => {
    const at = `syscalls[${i}]`;
    if (!isObject(rule)) bad(file, at, 'must be an object');
    if (rule.name !== undefined && typeof rule.name !== 'string') bad(file, `${at}.name`, 'must be a string');
    if (rule.names !== undefined && rule.names !== null && !isStringArray(rule.names)) bad(file, `${at}.names`, 'must be an array of strings');
    if (rule.name && (rule.names as string[] | undefined)?.length) bad(file, at, "has both 'name' and 'names': use one");
    if (!rule.name && !(rule.names as string[] | undefined)?.length) bad(file, `${at}.names`, 'names no syscall');
    if (typeof rule.action !== 'string' || !SECCOMP_ACTIONS.includes(rule.action)) bad(file, `${at}.action`, `unknown action ${JSON.stringify(rule.action)}`);
    if (rule.errnoRet !== undefined && rule.errnoRet !== null && !Number.isInteger(rule.errnoRet)) bad(file, `${at}.errnoRet`, 'must be an integer');
    if (rule.args !== undefined && rule.args !== null && !Array.isArray(rule.args)) bad(file, `${at}.args`, 'must be an array');
    ((rule.args ?? []) as unknown[]).forEach((arg, k) => {
      if (!isObject(arg)) bad(file, `${at}.args[${k}]`, 'must be an object');
      if (!Number.isInteger(arg.index) || (arg.index as number) < 0 || (arg.index as number) > 5) bad(file, `${at}.args[${k}].index`, 'must be an integer from 0 to 5');
      if (!Number.isInteger(arg.value) || (arg.value as number) < 0) bad(file, `${at}.args[${k}].value`, 'must be a non-negative integer');
      if (arg.valueTwo !== undefined && (!Number.isInteger(arg.valueTwo) || (arg.valueTwo as number) < 0)) bad(file, `${at}.args[${k}].valueTwo`, 'must be a non-negative integer');
      if (typeof arg.op !== 'string' || !SECCOMP_OPERATORS.includes(arg.op)) bad(file, `${at}.args[${k}].op`, `unknown operator ${JSON.stringify(arg.op)}`);
    });
    for (const side of ['includes', 'excludes'] as const) {
      const f = rule[side];
      if (f === undefined || f === null) continue;
      if (!isObject(f)) bad(file, `${at}.${side}`, 'must be an object');
      for (const key of ['caps', 'arches'] as const) {
        if (f[key] !== undefined && f[key] !== null && !isStringArray(f[key])) bad(file, `${at}.${side}.${key}`, 'must be an array of strings');
      }
      if (f.minKernel !== undefined && f.minKernel !== null && (typeof f.minKernel !== 'string' || !/^\d+\.\d+/.test(f.minKernel))) bad(file, `${at}.${side}.minKernel`, 'must be a version such as "5.8"');
    }
  });
  return data as unknown as FileProfile;
}

/** The profile file, parsed and checked; a missing file is named with what to do about it. */
export function readProfileFile(file: string, missingHint: string): FileProfile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) throw new EngineUsageError(`seccomp profile ${file} not found${missingHint}`);
    throw err;
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new EngineUsageError(`seccomp profile ${file}: not JSON: ${(err as Error).message}`);
  }
  return checkProfile(data, file);
}

/** A checked profile file as runtime-spec linux.seccomp for `target`: rules filtered by includes/excludes. */
export function profileToSpec(profile: FileProfile, target: ProfileTarget): Seccomp {
  const native = nativeScmpArch();
  const mapped = profile.archMap?.find((m) => m.architecture === native);
  const architectures = profile.architectures?.length ? profile.architectures : mapped ? [mapped.architecture, ...(mapped.subArchitectures ?? [])] : [];
  const syscalls = (profile.syscalls ?? []).filter((rule) => ruleApplies(rule, target)).map((rule): SeccompRule => {
    const out: SeccompRule = { names: rule.name ? [rule.name] : [...(rule.names ?? [])], action: rule.action };
    if (rule.errnoRet !== undefined && rule.errnoRet !== null) out.errnoRet = rule.errnoRet;
    if (rule.args?.length) out.args = rule.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op }));
    return out;
  });
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined ? { defaultErrnoRet: profile.defaultErrnoRet } : {}),
    ...(architectures.length ? { architectures } : {}),
    ...(profile.flags?.length ? { flags: profile.flags } : {}),
    ...(profile.listenerPath ? { listenerPath: profile.listenerPath } : {}),
    ...(profile.listenerMetadata ? { listenerMetadata: profile.listenerMetadata } : {}),
    syscalls,
  };
}

const CLONE_NEWUSER = 0x10000000;
const { EPERM, ENOSYS } = constants.errno;

/**
 * berth's overlay on containers-common's profile: what Docker's default profile refuses and
 * containers-common's allows (measured on its Debian file, 0.50.1):
 * - keyctl, add_key, request_key: EPERM always (the kernel keyring is not namespaced);
 * - without CAP_SYS_ADMIN, clone and unshare with CLONE_NEWUSER: EPERM. A new user namespace
 *   gives its creator every capability over namespaces it then makes: with it a container of
 *   default capabilities could mount a cgroup v1 hierarchy on its own cgroup and raise its limits;
 * - without CAP_SYS_ADMIN, clone3: ENOSYS (its flags are in memory, where seccomp cannot look), so
 *   glibc falls back to clone, whose flags the rule above sees.
 * clone and unshare keep working for everything else (threads, fork, other namespaces' kernel
 * checks).
 */
export function withBerthOverlay(seccomp: Seccomp, bounding: readonly string[]): Seccomp {
  const keyring = ['keyctl', 'add_key', 'request_key'];
  const sysAdmin = bounding.includes('CAP_SYS_ADMIN');
  const namespaced = sysAdmin ? [] : ['clone', 'unshare', 'clone3'];
  const removed = new Set([...keyring, ...namespaced]);
  const rules = seccomp.syscalls ?? [];
  const allowedOutright = (name: string) => rules.some((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args?.length && r.names.includes(name));
  const kept = rules.map((r) => ({ ...r, names: r.names.filter((n) => !removed.has(n)) })).filter((r) => r.names.length > 0);
  const added: SeccompRule[] = [{ names: keyring, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }];
  const forked = ['clone', 'unshare'].filter((n) => namespaced.includes(n) && allowedOutright(n));
  if (forked.length) {
    // On s390 clone's flags are its second argument; berth's architectures put them first.
    added.push(
      { names: forked, action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      { names: forked, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }] },
    );
  }
  if (namespaced.includes('clone3')) added.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  return { ...seccomp, syscalls: [...kept, ...added] };
}

/** The default linux.seccomp of a container whose bounding set is `bounding`. */
export function defaultSeccomp(bounding: readonly string[], file = DEFAULT_SECCOMP_PROFILE): Seccomp {
  const hint = ` (berth's default; apt-get install ${DEFAULT_SECCOMP_PACKAGE}, or run with --security-opt seccomp=unconfined)`;
  return withBerthOverlay(profileToSpec(readProfileFile(file, hint), hostTarget(bounding)), bounding);
}

/** A user's profile (`--security-opt seccomp=PATH`), as written, its rules judged against `bounding`. */
export function userSeccomp(file: string, bounding: readonly string[]): Seccomp {
  return profileToSpec(readProfileFile(file, ''), hostTarget(bounding));
}
