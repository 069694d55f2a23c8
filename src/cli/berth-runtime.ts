#!/usr/bin/env node
// berth-runtime: an OCI runtime with runc's command-line surface, so that engines (podman,
// containerd, conmon) can drive it, and with --explain, so that people can read what it does.
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderCgroupOps } from '../cgroups/explain.js';
import type { CgroupOp } from '../cgroups/driver.js';
import { eventsCommand, psCommand, updateResources, UPDATE_FLAGS } from './runtime-cgroup-commands.js';
import type { Plan } from '../kernel/plan.js';
import { Runtime, RuntimeError, exitCodeOf } from '../runtime/container.js';
import { defaultSpec } from '../runtime/default-spec.js';
import { renderRunPlan } from '../runtime/explain.js';
import { features } from '../runtime/features.js';
import { parseSignal } from '../runtime/processes.js';
import { parseProcess } from '../runtime/spec.js';
import type { Process } from '../oci/runtime-spec.js';
import { DEFAULT_ROOT } from '../runtime/state.js';
import { bool, list, parseArgs, str, UsageError, type FlagSpec, type Parsed } from './args.js';
import { reportCommand } from './command-kind.js';

const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root' },
  { name: 'log' },
  { name: 'log-format' },
  { name: 'debug', boolean: true },
  { name: 'systemd-cgroup', boolean: true },
  { name: 'rootless' },
  { name: 'criu' },
  { name: 'help', short: 'h', boolean: true },
  { name: 'version', short: 'v', boolean: true },
];

const EXPLAIN: FlagSpec[] = [
  { name: 'explain', boolean: true },
  { name: 'dry-run', boolean: true },
];
const CREATE_FLAGS: FlagSpec[] = [
  { name: 'bundle', short: 'b' },
  { name: 'pid-file' },
  { name: 'console-socket' },
  { name: 'no-pivot', boolean: true },
  { name: 'no-new-keyring', boolean: true },
  { name: 'preserve-fds' },
  ...EXPLAIN,
];

const USAGE = `berth-runtime: an OCI runtime that builds containers from kernel primitives

usage: berth-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [ARGS]

commands:
  spec [--bundle DIR] [--rootless]          write a starter config.json
  create [--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] [--explain] [--dry-run] ID
  start ID                                  let a created container's process run
  run [--bundle DIR] [--detach] [...create flags] ID
  state ID                                  the OCI state as JSON
  list [--format table|json] [--quiet]
  kill [--all] ID [SIGNAL]
  delete [--force] ID
  exec [--tty] [--cwd DIR] [--env K=V] [--process FILE] [--detach] [--pid-file F] [--console-socket S] [--explain] ID CMD...
  pause ID / resume ID                      freeze and thaw every process of the container
  update [--cpu-quota N] [--cpu-period N] [--cpu-share N] [--cpuset-cpus L] [--cpuset-mems L]
         [--memory N] [--memory-reservation N] [--memory-swap N] [--pids-limit N] [--blkio-weight N]
         [-r resources.json|-] [--explain] ID
  events [--stats] [--interval 5s] ID       cgroup stats and OOM events as JSON lines
  ps [--format table|json] ID [PS ARGS]     the container's processes
  features                                  what this runtime supports, as JSON

--explain prints each step as the shell command a person would type; --dry-run prints them and stops.
`;

interface Globals {
  runtime: Runtime;
  log?: string;
  logFormat: string;
  debug: boolean;
}

/** --dry-run prints the plan on stdout (it is the output), --explain on stderr (beside the container's). */
function onPlanFor(p: Parsed): ((plan: Plan, rootfs: string, cgroupOps?: CgroupOp[]) => void) | undefined {
  const out = bool(p, 'dry-run') ? process.stdout : bool(p, 'explain') ? process.stderr : undefined;
  return out && ((plan, rootfs, ops) => out.write(renderRunPlan(plan, rootfs, ops).join('\n') + '\n'));
}

function oneId(p: Parsed, command: string): string {
  const [id, ...rest] = p.positionals;
  if (!id) throw new UsageError(`${command}: a container ID is required`);
  if (rest.length) throw new UsageError(`${command}: unexpected arguments: ${rest.join(' ')}`);
  return id;
}

function createOptions(p: Parsed) {
  return {
    bundle: str(p, 'bundle') ?? '.',
    pidFile: str(p, 'pid-file'),
    consoleSocket: str(p, 'console-socket'),
    noPivot: bool(p, 'no-pivot'),
    dryRun: bool(p, 'dry-run'),
    onPlan: onPlanFor(p),
  };
}

/** The process of an exec: --process FILE, or the container's own process with the flags' changes. */
function execProcess(p: Parsed, base: Process, command: string[]): Process {
  const file = str(p, 'process');
  if (file) return parseProcess(readFileSync(file, 'utf8'), file);
  if (command.length === 0) throw new UsageError('exec: a command (or --process FILE) is required');
  const proc: Process = { ...base, args: command, terminal: bool(p, 'tty') };
  const cwd = str(p, 'cwd');
  if (cwd) proc.cwd = cwd;
  const env = list(p, 'env');
  if (env.length) {
    const names = new Set(env.map((e) => e.split('=')[0]));
    proc.env = [...(base.env ?? []).filter((e) => !names.has(e.split('=')[0])), ...env];
  }
  const user = str(p, 'user');
  if (user) {
    const [uid, gid] = user.split(':').map(Number);
    proc.user = { ...base.user, uid, gid: gid ?? 0 };
  }
  return proc;
}

const COMMANDS: Record<string, (g: Globals, argv: string[]) => Promise<number>> = {
  async spec(_g, argv) {
    const p = parseArgs(argv, [{ name: 'bundle', short: 'b' }, { name: 'rootless', boolean: true }]);
    const dir = resolve(str(p, 'bundle') ?? '.');
    const file = join(dir, 'config.json');
    if (existsSync(file)) throw new RuntimeError(`${file}: already exists`);
    writeFileSync(file, JSON.stringify(defaultSpec({ rootless: bool(p, 'rootless') }), null, '\t') + '\n');
    return 0;
  },

  async create(g, argv) {
    const p = parseArgs(argv, CREATE_FLAGS);
    await g.runtime.create(oneId(p, 'create'), createOptions(p));
    return 0;
  },

  async start(g, argv) {
    await g.runtime.start(oneId(parseArgs(argv, []), 'start'));
    return 0;
  },

  async run(g, argv) {
    const p = parseArgs(argv, [...CREATE_FLAGS, { name: 'detach', short: 'd', boolean: true }]);
    const { exitCode } = await g.runtime.run(oneId(p, 'run'), { ...createOptions(p), detach: bool(p, 'detach') });
    return exitCode;
  },

  async state(g, argv) {
    const state = g.runtime.state(oneId(parseArgs(argv, []), 'state'));
    process.stdout.write(JSON.stringify(state, null, 2) + '\n');
    return 0;
  },

  async list(g, argv) {
    const p = parseArgs(argv, [{ name: 'format', short: 'f' }, { name: 'quiet', short: 'q', boolean: true }]);
    const rows = g.runtime.list();
    if (bool(p, 'quiet')) {
      for (const { record } of rows) process.stdout.write(record.id + '\n');
    } else if (str(p, 'format') === 'json') {
      const out = rows.map(({ record, status }) => ({
        ociVersion: record.config.ociVersion,
        id: record.id,
        pid: status === 'stopped' ? 0 : record.pid,
        status,
        bundle: record.bundle,
        rootfs: record.rootfs,
        created: record.created,
        owner: 'root',
      }));
      process.stdout.write(JSON.stringify(out) + '\n');
    } else {
      const table = [['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER']];
      for (const { record, status } of rows) {
        table.push([record.id, String(status === 'stopped' ? 0 : record.pid), status, record.bundle, record.created, 'root']);
      }
      const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
      for (const r of table) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c])).join('   ').trimEnd() + '\n');
    }
    return 0;
  },

  async kill(g, argv) {
    const p = parseArgs(argv, [{ name: 'all', short: 'a', boolean: true }]);
    const [id, signal = 'SIGTERM', ...rest] = p.positionals;
    if (!id) throw new UsageError('kill: a container ID is required');
    if (rest.length) throw new UsageError(`kill: unexpected arguments: ${rest.join(' ')}`);
    // 0 checks that the container can be signalled, as kill(2) does (runc takes it too).
    await g.runtime.kill(id, signal === '0' ? 0 : parseSignal(signal), bool(p, 'all'));
    return 0;
  },

  async delete(g, argv) {
    const p = parseArgs(argv, [{ name: 'force', short: 'f', boolean: true }]);
    const id = oneId(p, 'delete');
    // runc's --force: a container that is already gone is nothing left to do, not an error.
    if (bool(p, 'force') && !g.runtime.states.exists(id)) return 0;
    await g.runtime.delete(id, bool(p, 'force'));
    return 0;
  },

  async exec(g, argv) {
    const p = parseArgs(
      argv,
      [
        { name: 'tty', short: 't', boolean: true },
        { name: 'cwd' },
        { name: 'env', short: 'e', repeatable: true },
        { name: 'process', short: 'p' },
        { name: 'detach', short: 'd', boolean: true },
        { name: 'pid-file' },
        { name: 'console-socket' },
        { name: 'user', short: 'u' },
        { name: 'preserve-fds' },
        ...EXPLAIN,
      ],
      true,
    );
    const [id, ...command] = p.positionals;
    if (!id) throw new UsageError('exec: a container ID is required');
    const record = g.runtime.states.load(id);
    const proc = execProcess(p, record.config.process, command);
    const started = await g.runtime.exec(id, proc, { consoleSocket: str(p, 'console-socket'), onPlan: onPlanFor(p), dryRun: bool(p, 'dry-run') });
    if (!started) return 0; // --dry-run
    const child = started.process;
    const pidFile = str(p, 'pid-file');
    if (pidFile) writeFileSync(pidFile, String(child.pid));
    if (bool(p, 'detach')) {
      child.release();
      return 0;
    }
    return exitCodeOf(await child.watch());
  },

  async pause(g, argv) {
    await g.runtime.pause(oneId(parseArgs(argv, []), 'pause'));
    return 0;
  },

  async resume(g, argv) {
    await g.runtime.resume(oneId(parseArgs(argv, []), 'resume'));
    return 0;
  },

  async update(g, argv) {
    const p = parseArgs(argv, [...UPDATE_FLAGS, { name: 'explain', boolean: true }]);
    const id = oneId(p, 'update');
    const resources = updateResources(p, g.runtime.states.load(id).config.linux?.resources ?? {});
    g.runtime.update(id, resources, bool(p, 'explain') ? (ops) => process.stderr.write(renderCgroupOps(ops).join('\n') + '\n') : undefined);
    return 0;
  },

  async events(g, argv) {
    const p = parseArgs(argv, [{ name: 'stats', boolean: true }, { name: 'interval' }]);
    return eventsCommand(g.runtime, oneId(p, 'events'), bool(p, 'stats'), str(p, 'interval') ?? '5s');
  },

  async ps(g, argv) {
    const p = parseArgs(argv, [{ name: 'format', short: 'f' }], true);
    const [id, ...psArgs] = p.positionals;
    if (!id) throw new UsageError('ps: a container ID is required');
    return psCommand(g.runtime, id, str(p, 'format') ?? 'table', psArgs);
  },

  async features() {
    process.stdout.write(JSON.stringify(features(), null, 2) + '\n');
    return 0;
  },
};

/** Errors and warnings as runc writes them: to stderr, and to --log in the chosen format (podman shows these). */
function report(g: Partial<Globals>, message: string, level: 'error' | 'warning' = 'error'): void {
  process.stderr.write(`berth-runtime: ${level === 'warning' ? 'warning: ' : ''}${message}\n`);
  if (!g.log) return;
  const line =
    g.logFormat === 'json'
      ? JSON.stringify({ level, msg: message, time: new Date().toISOString() })
      : `time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(message)}`;
  try {
    appendFileSync(g.log, line + '\n');
  } catch {
    // the log is best effort; stderr already has the message
  }
}

async function main(argv: string[]): Promise<number> {
  const g: Partial<Globals> = { logFormat: 'text', debug: false };
  try {
    const top = parseArgs(argv, GLOBAL_FLAGS, true);
    g.log = str(top, 'log');
    g.logFormat = str(top, 'log-format') ?? 'text';
    g.debug = bool(top, 'debug');
    const [command, ...rest] = top.positionals;
    if (bool(top, 'version')) {
      process.stdout.write('berth-runtime version 0.1.0\nspec: 1.3.0\n');
      return 0;
    }
    if (!command || bool(top, 'help') || command === 'help') {
      process.stdout.write(USAGE);
      return command || bool(top, 'help') ? 0 : 1;
    }
    const run = COMMANDS[command];
    if (!run) throw new UsageError(`unknown command ${JSON.stringify(command)} (see berth-runtime --help)`);
    reportCommand([command]);
    const root = str(top, 'root') ?? DEFAULT_ROOT;
    if (command !== 'spec' && command !== 'features') mkdirSync(root, { recursive: true, mode: 0o711 });
    g.runtime = new Runtime(root, (message) => report(g, message, 'warning'));
    return await run(g as Globals, rest);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    report(g, message.split('\n')[0]);
    if (g.debug && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return err instanceof RuntimeError ? err.exitCode : err instanceof UsageError ? 2 : 1;
  }
}

// Not a top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
