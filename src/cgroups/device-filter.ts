// cgroup v2 has no devices.allow: access to device nodes is decided by an eBPF program attached to
// the cgroup (BPF_PROG_TYPE_CGROUP_DEVICE). This file writes that program, instruction by
// instruction, from the device rules; the native addon loads and attaches it.
import { closeSync } from 'node:fs';
import { native } from '../kernel/native.js';
import { fromNative } from '../kernel/errors.js';
import type { DeviceRule } from '../oci/runtime-spec.js';

// The program's input, struct bpf_cgroup_dev_ctx: u32 access_type (access << 16 | type), u32 major, u32 minor.
const DEV_BLOCK = 1;
const DEV_CHAR = 2;
const ACC_MKNOD = 1;
const ACC_READ = 2;
const ACC_WRITE = 4;

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W = 0x61; // dst = *(u32 *)(src + off)
const ALU32_AND_K = 0x54;
const ALU32_RSH_K = 0x74;
const ALU32_MOV_X = 0xbc;
const ALU64_MOV_K = 0xb7;
const JMP_JNE_K = 0x55;
const EXIT = 0x95;

function insn(code: number, dst: number, src: number, off: number, imm: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt8(code, 0);
  b.writeUInt8((src << 4) | dst, 1);
  b.writeInt16LE(off, 2);
  b.writeInt32LE(imm | 0, 4);
  return b;
}

function accessBits(access = 'rwm'): number {
  let bits = 0;
  if (access.includes('m')) bits |= ACC_MKNOD;
  if (access.includes('r')) bits |= ACC_READ;
  if (access.includes('w')) bits |= ACC_WRITE;
  return bits;
}

/**
 * One rule as a block: each test that fails jumps over the rest of the block to the next rule.
 * A rule without tests matches everything (`matchesAll`): nothing after it can be reached.
 */
function ruleBlock(rule: DeviceRule): { insns: Buffer[]; matchesAll: boolean } {
  const tests: ((skip: number) => Buffer[])[] = [];
  if (rule.type === 'c' || rule.type === 'b') {
    const type = rule.type === 'c' ? DEV_CHAR : DEV_BLOCK;
    tests.push((skip) => [insn(JMP_JNE_K, 2, 0, skip, type)]);
  }
  const bits = accessBits(rule.access);
  if (bits !== (ACC_MKNOD | ACC_READ | ACC_WRITE)) {
    // Matches only when every requested access is one the rule names: (access & ~bits) == 0.
    tests.push((skip) => [insn(ALU32_MOV_X, 1, 3, 0, 0), insn(ALU32_AND_K, 1, 0, 0, ~bits & 0x7), insn(JMP_JNE_K, 1, 0, skip, 0)]);
  }
  if (rule.major !== undefined && rule.major >= 0) tests.push((skip) => [insn(JMP_JNE_K, 4, 0, skip, rule.major as number)]);
  if (rule.minor !== undefined && rule.minor >= 0) tests.push((skip) => [insn(JMP_JNE_K, 5, 0, skip, rule.minor as number)]);
  const verdict = [insn(ALU64_MOV_K, 0, 0, 0, rule.allow ? 1 : 0), insn(EXIT, 0, 0, 0, 0)];
  // Lay the tests out from the end, so that each knows how many instructions follow it.
  let block: Buffer[] = verdict;
  for (let k = tests.length - 1; k >= 0; k--) {
    // Each test ends in its jump: a failing test skips the instructions laid out after it.
    block = [...tests[k](block.length), ...block];
  }
  return { insns: block, matchesAll: tests.length === 0 };
}

/** The program for `rules` (in order, last match wins; nothing matching is denied). */
export function deviceFilterProgram(rules: readonly DeviceRule[]): Buffer {
  const prologue = [
    insn(LDX_MEM_W, 2, 1, 0, 0),
    insn(ALU32_AND_K, 2, 0, 0, 0xffff), // r2 = device type
    insn(LDX_MEM_W, 3, 1, 0, 0),
    insn(ALU32_RSH_K, 3, 0, 0, 16), // r3 = requested access
    insn(LDX_MEM_W, 4, 1, 4, 0), // r4 = major
    insn(LDX_MEM_W, 5, 1, 8, 0), // r5 = minor
  ];
  // Last match wins: test the rules from the last one back; the first match decides. The verifier
  // refuses unreachable code, so nothing is laid out after a rule that matches everything.
  const body: Buffer[] = [];
  for (const rule of [...rules].reverse()) {
    const block = ruleBlock(rule);
    body.push(...block.insns);
    if (block.matchesAll) return Buffer.concat([...prologue, ...body]);
  }
  const denyByDefault = [insn(ALU64_MOV_K, 0, 0, 0, 0), insn(EXIT, 0, 0, 0, 0)];
  return Buffer.concat([...prologue, ...body, ...denyByDefault]);
}

/** Loads the program and attaches it to the cgroup directory `dir`. */
export function attachDeviceFilter(dir: string, rules: readonly DeviceRule[]): void {
  let fd: number;
  try {
    fd = native.bpfLoadDeviceFilter(deviceFilterProgram(rules));
  } catch (err) {
    throw fromNative(err, `cgroup v2 device filter for ${dir}: load`);
  }
  try {
    native.bpfAttachDeviceFilter(fd, dir);
  } catch (err) {
    throw fromNative(err, `cgroup v2 device filter: attach to ${dir}`);
  } finally {
    // The attachment holds the program; our fd is no longer needed.
    closeSync(fd);
  }
}
