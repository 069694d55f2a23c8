// The typed face of libseccomp in the addon (native/seccomp.c): what a filter is made of, in
// libseccomp's own numbers, and the compile that turns it into the BPF program the child loads.
// Which rules a filter holds is decided above (src/runtime/seccomp.ts); this only carries them.
import { native } from './native.js';
import { BerthError, type ErrorKind } from '../errors.js';

/** Actions, as libseccomp's SCMP_ACT_* values (<seccomp.h>); ERRNO and TRACE carry 16 bits of data. */
export const SCMP_ACT = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  NOTIFY: 0x7fc00000,
  ERRNO: 0x00050000,
  TRACE: 0x7ff00000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** libseccomp's argument comparisons (enum scmp_compare). */
export const SCMP_CMP = { NE: 1, LT: 2, LE: 3, EQ: 4, GE: 5, GT: 6, MASKED_EQ: 7 } as const;

export interface ArgCondition {
  /** Argument 0 to 5. */
  index: number;
  op: number;
  /** For MASKED_EQ the mask; else the value compared with. */
  a: bigint;
  /** For MASKED_EQ the value the masked argument must equal; unused otherwise. */
  b: bigint;
}

export interface FilterRule {
  /** libseccomp's number for the syscall on the native architecture (negative: a pseudo-syscall it maps per architecture). */
  syscall: number;
  action: number;
  /** All must hold (AND); none: the rule matches every call. */
  args: ArgCondition[];
}

export interface FilterRequest {
  defaultAction: number;
  /** Architecture tokens besides the native one, which every filter has. */
  architectures: number[];
  /** libseccomp's binary-tree layout, for long rule lists (runc's choice above 8 rules). */
  optimize: boolean;
  rules: FilterRule[];
}

/** The request as the u64 words native/seccomp.c reads (see js_seccomp_compile). */
export function encodeFilterRequest(req: FilterRequest): Buffer {
  const words: bigint[] = [BigInt(req.defaultAction), req.optimize ? 1n : 0n, BigInt(req.architectures.length)];
  for (const arch of req.architectures) words.push(BigInt(arch));
  words.push(BigInt(req.rules.length));
  for (const rule of req.rules) {
    words.push(BigInt.asUintN(64, BigInt(rule.syscall)), BigInt(rule.action), BigInt(rule.args.length));
    for (const arg of rule.args) words.push(BigInt(arg.index), BigInt(arg.op), arg.a, arg.b);
  }
  const out = Buffer.alloc(words.length * 8);
  words.forEach((w, i) => out.writeBigUInt64LE(w, i * 8));
  return out;
}

/** A rule libseccomp refused; `rule` is its index in the request. */
export class FilterRuleError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  constructor(
    readonly rule: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'FilterRuleError';
  }
}

/** Compiles the request with libseccomp; returns the BPF program (8 bytes per instruction). */
export function compileFilter(req: FilterRequest): Buffer {
  try {
    return native.seccompCompile(encodeFilterRequest(req));
  } catch (err) {
    const e = err as { rule?: number; code?: string; message?: string };
    if (typeof e.rule === 'number') throw new FilterRuleError(e.rule, e.code ?? 'EINVAL', e.message ?? String(err));
    throw err;
  }
}

/** libseccomp's syscall numbers for names; null where it knows no such syscall. */
export function syscallNumbers(names: string[]): (number | null)[] {
  return native.seccompSyscalls(names);
}

/** libseccomp's token for an architecture name (`x86_64`); 0 when this libseccomp does not know it. */
export function architectureToken(name: string): number {
  return native.seccompArch(name);
}

export function nativeArchitecture(): number {
  return native.seccompArch();
}

export function libseccompVersion(): string {
  return native.seccompVersion();
}

export function kernelTakesFilterFlags(flags: number): boolean {
  return native.seccompFlagsSupported(flags);
}
