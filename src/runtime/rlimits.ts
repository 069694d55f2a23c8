// Linux resource limits: the runtime-spec's RLIMIT_* names and the numbers setrlimit(2) takes.
//
// These are the numbers of <asm-generic/resource.h>, used by x86, arm, arm64, riscv, s390 and
// powerpc. Alpha, MIPS and SPARC number a few differently; berth does not run there.

/** Resource numbers by runtime-spec name: `RLIMITS.RLIMIT_NOFILE === 7`. */
export const RLIMITS: Readonly<Record<string, number>> = Object.freeze({
  RLIMIT_CPU: 0,
  RLIMIT_FSIZE: 1,
  RLIMIT_DATA: 2,
  RLIMIT_STACK: 3,
  RLIMIT_CORE: 4,
  RLIMIT_RSS: 5,
  RLIMIT_NPROC: 6,
  RLIMIT_NOFILE: 7,
  RLIMIT_MEMLOCK: 8,
  RLIMIT_AS: 9,
  RLIMIT_LOCKS: 10,
  RLIMIT_SIGPENDING: 11,
  RLIMIT_MSGQUEUE: 12,
  RLIMIT_NICE: 13,
  RLIMIT_RTPRIO: 14,
  RLIMIT_RTTIME: 15,
});

/** RLIM_INFINITY: the kernel's "unlimited", (u64)-1. */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;

/**
 * A config.json limit as the u64 setrlimit(2) takes.
 *
 * JSON numbers become doubles, so a limit above 2^53 arrives rounded: 18446744073709551615
 * (RLIM_INFINITY, as Go runtimes write "unlimited") parses as 2^64. Every value ≥ 2^64-1
 * therefore means unlimited; values between 2^53 and 2^64-1 keep the double's rounding.
 */
export function rlimitValue(value: number): bigint {
  const limit = BigInt(value);
  return limit >= RLIM_INFINITY ? RLIM_INFINITY : limit;
}
