// Linux capability names and numbers, as in <linux/capability.h>.
//
// The runtime-spec names capabilities by string; capset(2) and prctl(PR_CAPBSET_DROP) take them
// by number. This table is the one place that maps one to the other. A kernel older than a
// capability (CAP_CHECKPOINT_RESTORE arrived in 5.9) rejects it at capset time, not here: the
// spec is valid, the host may still be too old for it.

/** Capability names indexed by their number: `CAPABILITIES[5] === 'CAP_KILL'`. */
export const CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN', // 0
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL', // 5
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE', // 10
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', // 15
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', // 20
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', // 25
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL', // 30
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM', // 35
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE', // 40
]);

const NUMBER_BY_NAME: ReadonlyMap<string, number> = new Map(CAPABILITIES.map((name, number) => [name, number]));

/** The number of a capability name, or undefined when berth does not know the name. */
export function capabilityNumber(name: string): number | undefined {
  return NUMBER_BY_NAME.get(name);
}

/** The capability set as the 64-bit mask capset(2) takes (bit n = capability n). Throws on an unknown name. */
export function capabilityMask(names: readonly string[]): bigint {
  let mask = 0n;
  for (const name of names) {
    const number = NUMBER_BY_NAME.get(name);
    if (number === undefined) throw new Error(`unknown capability ${JSON.stringify(name)}`);
    mask |= 1n << BigInt(number);
  }
  return mask;
}
