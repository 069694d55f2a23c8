// The plan's binary layout is written twice: by src/kernel/plan.ts, which encodes it, and by
// native/plan.h and plan.c, which parse it for the C executor. This test holds the two to one
// layout: the numbers plan.h defines are the ones plan.ts writes, and a plan encoded by plan.ts,
// parsed by the project's own plan.c (built here into a small program), says what it was meant to.
// A slot or an op added on one side and not the other fails here.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  BLOB_LENGTH_SLOT,
  BLOB_OFFSET_SLOT,
  CREATE_CODES,
  encodePlan,
  OP_CODES,
  PLAN_HEADER_BYTES,
  PLAN_MAGIC,
  PLAN_STEP_BYTES,
  PLAN_VERSION,
  STEP_INTS,
  STEP_STRINGS,
  SyncTag,
  type Plan,
  type Step,
} from '../src/kernel/plan.js';
import { MSG_BYTES, MSG_ERROR, MSG_PID, MSG_READY, MSG_SYNC } from '../src/kernel/spawn.js';

/** The project root: this file runs from dist/test/. */
const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const HEADER = readFileSync(join(PROJECT, 'native/plan.h'), 'utf8');

/** Every `#define NAME NUMBER` and every `NAME = NUMBER` inside an enum of plan.h. */
function headerNumbers(): Map<string, number> {
  const numbers = new Map<string, number>();
  const text = HEADER.replace(/\/\*[\s\S]*?\*\//g, '');
  for (const m of text.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\s*$/gm)) numbers.set(m[1], Number(m[2]));
  for (const body of text.matchAll(/enum\s*\w*\s*\{([^}]*)\}/g)) {
    for (const m of body[1].matchAll(/(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)/g)) numbers.set(m[1], Number(m[2]));
  }
  return numbers;
}

const NUMBERS = headerNumbers();

function number(name: string): number {
  const value = NUMBERS.get(name);
  assert.notEqual(value, undefined, `native/plan.h defines no ${name}`);
  return value!;
}

/** plan.ts's op name → plan.h's enumerator: `forkIntoPidns` → `OP_FORK_INTO_PIDNS`. */
function enumeratorOf(op: string): string {
  return `OP_${op.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

interface ParsedStep {
  op: number;
  i: string[];
  s: (string | null)[];
  list0: string[];
  list1: string[];
  gids: number[];
  blob: string;
}

interface ParsedPlan {
  error?: string;
  cloneFlags: number;
  stdio: number[];
  keep: number[];
  steps: ParsedStep[];
}

const work = mkdtempSync(join(tmpdir(), 'berth-plan-layout-'));
after(() => rmSync(work, { recursive: true, force: true }));

let dumper: string | undefined;
/** test/probe/plan-dump.c over the project's native/plan.c: what the C side parses from a buffer. */
function parseInC(buffer: Buffer): ParsedPlan {
  if (dumper === undefined) {
    dumper = join(work, 'plan-dump');
    execFileSync('gcc', ['-std=gnu11', '-D_GNU_SOURCE', '-O2', '-Wall', '-Werror', '-I', join(PROJECT, 'native'), '-o', dumper, join(PROJECT, 'test/probe/plan-dump.c'), join(PROJECT, 'native/plan.c')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
  return JSON.parse(execFileSync(dumper, { input: buffer, encoding: 'utf8' })) as ParsedPlan;
}

describe('the plan layout: src/kernel/plan.ts and native/plan.h agree', () => {
  test('the header numbers and the step size', () => {
    assert.equal(number('PLAN_MAGIC'), PLAN_MAGIC);
    assert.equal(number('PLAN_VERSION'), PLAN_VERSION);
    assert.equal(number('PLAN_HEADER_BYTES'), PLAN_HEADER_BYTES);
    assert.equal(number('PLAN_STEP_BYTES'), PLAN_STEP_BYTES);
    const step = /struct plan_step\s*\{\s*int64_t op;\s*int64_t i\[(\d+)\];\s*const char \*s\[(\d+)\];/.exec(HEADER);
    assert.ok(step, 'plan.h: struct plan_step starts with op, i[N], s[N]');
    assert.equal(Number(step[1]), STEP_INTS);
    assert.equal(Number(step[2]), STEP_STRINGS);
    assert.equal(number('BLOB_OFFSET'), BLOB_OFFSET_SLOT);
    assert.equal(number('BLOB_LENGTH'), BLOB_LENGTH_SLOT);
    assert.deepEqual({ none: number('CREATE_NONE'), dir: number('CREATE_DIR'), file: number('CREATE_FILE') }, CREATE_CODES);
  });

  test('every op has one number on both sides', () => {
    const inHeader = new Map([...NUMBERS].filter(([name]) => name.startsWith('OP_')));
    for (const [op, code] of Object.entries(OP_CODES)) {
      assert.equal(inHeader.get(enumeratorOf(op)), code, `${op}: plan.ts says ${code}, plan.h's ${enumeratorOf(op)} says ${inHeader.get(enumeratorOf(op))}`);
      inHeader.delete(enumeratorOf(op));
    }
    assert.deepEqual([...inHeader.keys()], [], 'ops in plan.h that plan.ts does not encode');
  });

  test("the status pipe's messages", () => {
    assert.deepEqual(
      { error: MSG_ERROR, sync: MSG_SYNC, pid: MSG_PID, ready: MSG_READY },
      { error: number('MSG_ERROR'), sync: number('MSG_SYNC'), pid: number('MSG_PID'), ready: number('MSG_READY') },
    );
    const msg = /struct child_msg\s*\{([^}]*)\}/.exec(HEADER);
    assert.ok(msg);
    assert.equal([...msg[1].matchAll(/int32_t\s+\w+;/g)].length * 4, MSG_BYTES);
  });

  test('a plan encoded by plan.ts is parsed by plan.c as it was meant', () => {
    const mount: Extract<Step, { op: 'mount' }> = {
      op: 'mount',
      source: { inRoot: '/src' },
      target: { path: '/host/target' },
      fstype: 'tmpfs',
      flags: 0x1006,
      data: 'size=65536k,mode=755',
      create: 'file',
      keepFlags: true,
      optional: true,
      noSymlinks: true,
    };
    const program = Buffer.from([...Array(24).keys()]); // three BPF instructions of 8 bytes
    const steps: Step[] = [
      { op: 'sync', tag: SyncTag.BeforePivot },
      mount,
      { op: 'setgroups', gids: [10, 20, 4294967294] },
      { op: 'rlimit', resource: 7, soft: 1024n, hard: 18446744073709551615n },
      { op: 'seccomp', program, flags: 9, listenerSocketFd: 11, summary: 'three instructions' },
      { op: 'sethostname', name: 'höst "name"\n' },
      { op: 'exec', argv: ['/bin/sh', '-c', 'echo é'], env: ['A=1', 'B='], searchPath: '/usr/bin:/bin' },
    ];
    const plan: Plan = { cloneFlags: 0x20020000, stdio: [0, 1, 2], keepFds: [5, 7], steps };
    const parsed = parseInC(encodePlan(plan));
    assert.equal(parsed.error, undefined);
    assert.equal(parsed.cloneFlags, plan.cloneFlags);
    assert.deepEqual(parsed.stdio, plan.stdio);
    assert.deepEqual(parsed.keep, plan.keepFds);
    assert.deepEqual(
      parsed.steps.map((s) => s.op),
      steps.map((s) => OP_CODES[s.op]),
    );
    const [sync, mounted, groups, rlimit, seccomp, hostname, exec] = parsed.steps;
    assert.equal(sync.i[0], String(SyncTag.BeforePivot));

    // Every mount slot plan.h names, with the value plan.ts meant for it: a slot added to plan.h
    // that this table does not know fails, until both sides and this table have it.
    const mountSlots: Record<string, number> = {
      MOUNT_FLAGS: mount.flags,
      MOUNT_CREATE: CREATE_CODES[mount.create],
      MOUNT_SOURCE_IN_ROOT: 1,
      MOUNT_TARGET_IN_ROOT: 0,
      MOUNT_KEEP_FLAGS: 1,
      MOUNT_OPTIONAL: 1,
      MOUNT_NO_SYMLINKS: 1,
    };
    assert.deepEqual(
      [...NUMBERS.keys()].filter((name) => name.startsWith('MOUNT_')).sort(),
      Object.keys(mountSlots).sort(),
      "plan.h's mount slots are the ones this test checks",
    );
    for (const [name, value] of Object.entries(mountSlots)) assert.equal(mounted.i[number(name)], String(value), name);
    assert.deepEqual(mounted.s, ['/src', '/host/target', 'tmpfs', 'size=65536k,mode=755']);

    assert.deepEqual(groups.gids, [10, 20, 4294967294]);
    assert.deepEqual(rlimit.i.slice(0, 3), ['7', '1024', '-1']); // 2^64-1 is RLIM_INFINITY, an int64 -1
    assert.equal(seccomp.i[number('SECCOMP_FLAGS')], '9');
    assert.equal(seccomp.i[number('SECCOMP_LISTENER_SOCKET')], '11');
    assert.equal(seccomp.blob, program.toString('hex'));
    assert.deepEqual(hostname.s, ['höst "name"\n', null, null, null]);
    assert.deepEqual(exec.list0, ['/bin/sh', '-c', 'echo é']);
    assert.deepEqual(exec.list1, ['A=1', 'B=']);
    assert.equal(exec.s[2], '/usr/bin:/bin');
  });

  test('plan.c refuses a buffer that plan.ts did not write', () => {
    const good = encodePlan({ cloneFlags: 0, stdio: [0, 1, 2], keepFds: [], steps: [{ op: 'exec', argv: ['/bin/true'], env: [], searchPath: '/bin' }] });
    const badMagic = Buffer.from(good);
    badMagic.writeBigInt64LE(0n, 0);
    assert.equal(parseInC(badMagic).error, 'plan: bad magic or version');
    assert.equal(parseInC(good.subarray(0, PLAN_HEADER_BYTES + PLAN_STEP_BYTES - 1)).error, 'plan: truncated');
    assert.equal(parseInC(good).error, undefined);
  });
});
