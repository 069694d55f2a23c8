// linux.seccomp → the filter the container's process runs under. The spec's names become
// libseccomp's numbers here, each entry becomes libseccomp rules the way runc makes them, and a
// field libseccomp or the kernel cannot honour is refused with its JSON path. The addon only
// compiles what is decided here (src/kernel/seccomp.ts); the compiled program is cached on disk
// (seccomp-cache.ts), so a start with a known profile skips all of this.
import { constants } from 'node:os';
import {
  FilterRuleError,
  SCMP_ACT,
  SCMP_CMP,
  architectureToken,
  compileFilter,
  kernelTakesFilterFlags,
  libseccompVersion,
  syscallNumbers,
  type ArgCondition,
  type FilterRule,
} from '../kernel/seccomp.js';
import { SECCOMP_FILTER_FLAG } from '../kernel/plan.js';
import { SeccompCache, type CompiledProfile } from './seccomp-cache.js';
import { SpecError } from './spec.js';
import type { Seccomp, SeccompRule, Spec } from '../oci/runtime-spec.js';

/** The spec's actions (runtime-spec defs-linux.json SeccompAction) and libseccomp's values. */
const ACTIONS: Record<string, number> = {
  SCMP_ACT_KILL: SCMP_ACT.KILL_THREAD,
  SCMP_ACT_KILL_PROCESS: SCMP_ACT.KILL_PROCESS,
  SCMP_ACT_KILL_THREAD: SCMP_ACT.KILL_THREAD,
  SCMP_ACT_TRAP: SCMP_ACT.TRAP,
  SCMP_ACT_ERRNO: SCMP_ACT.ERRNO,
  SCMP_ACT_TRACE: SCMP_ACT.TRACE,
  SCMP_ACT_ALLOW: SCMP_ACT.ALLOW,
  SCMP_ACT_LOG: SCMP_ACT.LOG,
  SCMP_ACT_NOTIFY: SCMP_ACT.NOTIFY,
};
export const SECCOMP_ACTIONS = Object.keys(ACTIONS);

const OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: SCMP_CMP.NE,
  SCMP_CMP_LT: SCMP_CMP.LT,
  SCMP_CMP_LE: SCMP_CMP.LE,
  SCMP_CMP_EQ: SCMP_CMP.EQ,
  SCMP_CMP_GE: SCMP_CMP.GE,
  SCMP_CMP_GT: SCMP_CMP.GT,
  SCMP_CMP_MASKED_EQ: SCMP_CMP.MASKED_EQ,
};
export const SECCOMP_OPERATORS = Object.keys(OPERATORS);

/** The spec's architectures (defs-linux.json SeccompArch); libseccomp names each in lower case without the prefix. */
const ARCHITECTURES = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_LOONGARCH64', 'SCMP_ARCH_M68K', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32',
  'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64',
  'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
  'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
];

function libseccompArchName(specName: string): string {
  return specName.slice('SCMP_ARCH_'.length).toLowerCase();
}

/** The spec's architectures this libseccomp knows (`features` lists these). */
export function supportedArchitectures(): string[] {
  return ARCHITECTURES.filter((name) => architectureToken(libseccompArchName(name)) !== 0);
}

/** The spec's flags (defs-linux.json SeccompFlag) and seccomp(2)'s bits. */
const FLAGS: Record<string, number> = {
  SECCOMP_FILTER_FLAG_TSYNC: SECCOMP_FILTER_FLAG.TSYNC,
  SECCOMP_FILTER_FLAG_LOG: SECCOMP_FILTER_FLAG.LOG,
  SECCOMP_FILTER_FLAG_SPEC_ALLOW: SECCOMP_FILTER_FLAG.SPEC_ALLOW,
  SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV,
};
export const SECCOMP_FLAGS = Object.keys(FLAGS);

/** The flags this kernel accepts (WAIT_KILLABLE_RECV is only valid with a listener, so it is asked with one). */
export function supportedFlags(): string[] {
  return SECCOMP_FLAGS.filter((name) => {
    const bits = FLAGS[name] === SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV ? FLAGS[name] | SECCOMP_FILTER_FLAG.NEW_LISTENER : FLAGS[name];
    return kernelTakesFilterFlags(bits);
  });
}

/**
 * Syscalls the executor itself makes between loading a filter with a notify listener and the
 * parent handing that listener to the agent (send it, say so, wait): notified, they would wait
 * for an agent that has no listener yet. runc refuses `write` for the same reason.
 */
const EXECUTOR_SYSCALLS_BEFORE_HANDOVER = ['sendmsg', 'write', 'read'];

const EPERM = constants.errno.EPERM;
/** The kernel returns at most MAX_ERRNO; a larger errnoRet would quietly become another error. */
const MAX_ERRNO = 4095;

/** What the child loads, and what `--explain` says of it. */
export interface SeccompFilter {
  /** The BPF program: 8 bytes per instruction. */
  program: Buffer;
  /** seccomp(2) flags. */
  flags: number;
  /** Where the notify listener goes (SCMP_ACT_NOTIFY); null without one. */
  listener: { path: string; metadata: string } | null;
  summary: string;
  /** Syscall names this libseccomp does not know: skipped with a warning, as runc does. */
  skipped: string[];
}

/**
 * The container's filter, compiled or taken from `cacheDir` (null: no cache). Null when the spec
 * has no linux.seccomp. Throws SpecError naming the field at fault.
 */
export function seccompFilter(spec: Spec, file: string, cacheDir: string | null): SeccompFilter | null {
  const profile = spec.linux?.seccomp;
  if (!profile) return null;
  const cache = cacheDir === null ? null : new SeccompCache(cacheDir);
  const key = SeccompCache.keyOf(profile, libseccompVersion());
  let compiled = cache?.load(key) ?? null;
  if (!compiled) {
    compiled = compileProfile(profile, file);
    cache?.store(key, compiled);
  }
  // Outside the cached part: these fields are not in the cache key.
  const listener = listenerOf(profile, compiled.notify, file);
  return {
    program: compiled.program,
    flags: filterFlags(profile, compiled.notify, file),
    listener,
    summary: compiled.summary,
    skipped: compiled.skipped,
  };
}

function fail(file: string, field: string, problem: string): never {
  throw new SpecError(file, field, problem);
}

function listenerOf(profile: Seccomp, notify: boolean, file: string): SeccompFilter['listener'] {
  if (profile.listenerMetadata !== undefined && !profile.listenerPath) {
    fail(file, 'linux.seccomp.listenerMetadata', 'must not be set without linux.seccomp.listenerPath');
  }
  if (!notify) return null;
  if (!profile.listenerPath) fail(file, 'linux.seccomp.listenerPath', 'is required when an action is SCMP_ACT_NOTIFY');
  return { path: profile.listenerPath, metadata: profile.listenerMetadata ?? '' };
}

function filterFlags(profile: Seccomp, notify: boolean, file: string): number {
  let flags = 0;
  (profile.flags ?? []).forEach((name, i) => {
    const bit = FLAGS[name];
    if (bit === undefined) fail(file, `linux.seccomp.flags[${i}]`, `unknown flag ${JSON.stringify(name)} (known: ${SECCOMP_FLAGS.join(', ')})`);
    flags |= bit;
  });
  if (!notify) {
    // It changes how a notified syscall waits; without a listener nothing waits (and the kernel
    // refuses the flag alone).
    return flags & ~SECCOMP_FILTER_FLAG.WAIT_KILLABLE_RECV;
  }
  flags |= SECCOMP_FILTER_FLAG.NEW_LISTENER;
  // The kernel takes TSYNC with a listener only if a thread that cannot sync is reported as ESRCH.
  if (flags & SECCOMP_FILTER_FLAG.TSYNC) flags |= SECCOMP_FILTER_FLAG.TSYNC_ESRCH;
  return flags;
}

/** The action's libseccomp value; ERRNO and TRACE carry errnoRet (EPERM when unset), others refuse it. */
function actionValue(name: string, errnoRet: number | undefined, actionField: string, errnoField: string, file: string): number {
  const base = ACTIONS[name];
  if (base === undefined) fail(file, actionField, `unknown action ${JSON.stringify(name)} (known: ${SECCOMP_ACTIONS.join(', ')})`);
  if (base === SCMP_ACT.ERRNO || base === SCMP_ACT.TRACE) {
    const data = errnoRet ?? EPERM;
    const max = base === SCMP_ACT.ERRNO ? MAX_ERRNO : 0xffff;
    if (data > max) fail(file, errnoField, `must be at most ${max} for ${name}, got ${data}`);
    return (base | data) >>> 0;
  }
  if (errnoRet !== undefined) fail(file, errnoField, `${name} returns no errno: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take one`);
  return base;
}

/** A rule libseccomp gets, with the spec entry it came from (for errors). */
interface PlannedRule extends FilterRule {
  entry: number;
  name: string;
}

/** Parses, checks and compiles a profile. Exported for the benchmark's cold path. */
export function compileProfile(profile: Seccomp, file: string): CompiledProfile {
  const field = 'linux.seccomp';
  const defaultAction = actionValue(profile.defaultAction, profile.defaultErrnoRet, `${field}.defaultAction`, `${field}.defaultErrnoRet`, file);
  if (defaultAction === SCMP_ACT.NOTIFY) {
    fail(file, `${field}.defaultAction`, `SCMP_ACT_NOTIFY cannot be the default: the runtime's own ${EXECUTOR_SYSCALLS_BEFORE_HANDOVER.join(', ')} would wait for an agent that has no listener yet`);
  }
  const architectures = (profile.architectures ?? []).map((name, i) => {
    const archField = `${field}.architectures[${i}]`;
    if (!ARCHITECTURES.includes(name)) fail(file, archField, `unknown architecture ${JSON.stringify(name)}`);
    const token = architectureToken(libseccompArchName(name));
    if (token === 0) fail(file, archField, `${name} is unknown to libseccomp ${libseccompVersion()}`);
    return token;
  });

  const entries = profile.syscalls ?? [];
  const names = [...new Set(entries.flatMap((e) => e.names))];
  const numbers = syscallNumbers(names);
  const numberOf = new Map(names.map((name, i) => [name, numbers[i]]));

  const rules: PlannedRule[] = [];
  const skipped = new Set<string>();
  let notify = false;
  entries.forEach((entry, i) => {
    const entryField = `${field}.syscalls[${i}]`;
    const action = actionValue(entry.action, entry.errnoRet, `${entryField}.action`, `${entryField}.errnoRet`, file);
    const conditionSets = argumentConditions(entry, entryField, file);
    if (action === SCMP_ACT.NOTIFY) {
      notify = true;
      entry.names.forEach((name, n) => {
        if (EXECUTOR_SYSCALLS_BEFORE_HANDOVER.includes(name)) {
          fail(file, `${entryField}.names[${n}]`, `SCMP_ACT_NOTIFY cannot apply to ${name}: the runtime uses it to hand the listener to the agent`);
        }
      });
    }
    // libseccomp refuses a rule whose action is the default one; it would change nothing (runc skips it too).
    if (action === defaultAction) return;
    for (const name of entry.names) {
      const syscall = numberOf.get(name);
      if (syscall === null || syscall === undefined) {
        skipped.add(name);
        continue;
      }
      for (const args of conditionSets) rules.push({ syscall, action, args, entry: i, name });
    }
  });

  let program: Buffer;
  try {
    program = compileFilter({ defaultAction, architectures, optimize: rules.length > 8, rules });
  } catch (err) {
    if (!(err instanceof FilterRuleError)) throw err;
    const rule = rules[err.rule];
    fail(file, `${field}.syscalls[${rule.entry}]`, `libseccomp refused the rule for ${rule.name}: ${err.code}`);
  }
  if (program.length / 8 > 4096) fail(file, field, `the filter is ${program.length / 8} instructions, more than the kernel's 4096`);
  return { program, notify, summary: summarize(defaultAction, rules, skipped.size), skipped: [...skipped] };
}

/**
 * An entry's conditions as libseccomp rules, the way runc makes them: conditions on different
 * arguments all hold at once (one rule); two or more on the same argument each make a rule of
 * their own (any one holds). No conditions: one rule for every call.
 */
function argumentConditions(entry: SeccompRule, entryField: string, file: string): ArgCondition[][] {
  const args = entry.args ?? [];
  const conditions = args.map((arg, k): ArgCondition => {
    const argField = `${entryField}.args[${k}]`;
    if (arg.index > 5) fail(file, `${argField}.index`, `must be from 0 to 5 (a syscall has six arguments), got ${arg.index}`);
    const op = OPERATORS[arg.op];
    if (op === undefined) fail(file, `${argField}.op`, `unknown operator ${JSON.stringify(arg.op)} (known: ${SECCOMP_OPERATORS.join(', ')})`);
    return { index: arg.index, op, a: exactUint64(arg.value, `${argField}.value`, file), b: exactUint64(arg.valueTwo ?? 0, `${argField}.valueTwo`, file) };
  });
  if (conditions.length === 0) return [[]];
  const indexes = conditions.map((c) => c.index);
  const sharesAnArgument = new Set(indexes).size !== indexes.length;
  return sharesAnArgument ? conditions.map((c) => [c]) : [conditions];
}

/** JSON numbers above 2^53 arrive rounded: such a value would compare against another number than the one written. */
function exactUint64(value: number, field: string, file: string): bigint {
  if (!Number.isSafeInteger(value)) fail(file, field, `${value} cannot be read exactly from JSON (above 2^53); this runtime refuses it rather than compare against a rounded number`);
  return BigInt(value);
}

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

/** An action as people write it: ALLOW, ERRNO(EPERM), TRACE(1), KILL_PROCESS. */
function actionText(action: number): string {
  const data = action & 0xffff;
  if (action >>> 16 === SCMP_ACT.ERRNO >>> 16) return `ERRNO(${ERRNO_NAMES.get(data) ?? data})`;
  if (action >>> 16 === SCMP_ACT.TRACE >>> 16) return `TRACE(${data})`;
  const name = Object.entries(SCMP_ACT).find(([, value]) => value === action)?.[0];
  return name ?? `0x${action.toString(16)}`;
}

/** "default ERRNO(EPERM), 312 syscalls allowed, 4 syscalls ERRNO(EPERM), 3 rules on arguments". */
function summarize(defaultAction: number, rules: PlannedRule[], skipped: number): string {
  const unconditional = new Map<string, Set<number>>();
  let argumentRules = 0;
  for (const rule of rules) {
    if (rule.args.length) {
      argumentRules++;
      continue;
    }
    const text = actionText(rule.action);
    if (!unconditional.has(text)) unconditional.set(text, new Set());
    unconditional.get(text)!.add(rule.syscall);
  }
  const parts = [`default ${actionText(defaultAction)}`];
  for (const [text, syscalls] of unconditional) {
    const count = `${syscalls.size} syscall${syscalls.size === 1 ? '' : 's'}`;
    parts.push(text === 'ALLOW' ? `${count} allowed` : `${count} ${text}`);
  }
  if (argumentRules) parts.push(`${argumentRules} rule${argumentRules === 1 ? '' : 's'} on arguments`);
  if (skipped) parts.push(`${skipped} unknown syscall${skipped === 1 ? '' : 's'} skipped`);
  return parts.join(', ');
}
