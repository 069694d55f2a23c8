// berth's verbs for living containers: start, stop, kill, restart, wait, pause, unpause, rename,
// attach, logs, exec, top, stats, inspect; and `container cleanup`, the monitor's exit command.
import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import type { ContainerRecord } from '../engine/containers.js';
import type { EngineService } from '../engine/service.js';
import { attach } from '../engine/attach.js';
import { inspectContainer, inspectImage } from '../engine/inspect.js';
import { networkSettings } from '../engine/network/index.js';
import { parseLogTime, printLogs } from '../engine/logs.js';
import { bool, list, str, UsageError, type Parsed } from './args.js';
import type { CommandSpec, Flag } from './command.js';
import { eachOperand } from './operands.js';
import { errorKindOf } from '../errors.js';
import { table } from './format.js';
import { humanSize } from '../units.js';
import { formatRows, renderTemplate } from './template.js';

function timeoutFlag(p: Parsed): number | undefined {
  const t = str(p, 'time') ?? str(p, 'timeout');
  if (t === undefined) return undefined;
  if (!/^-?\d+$/.test(t)) throw new UsageError(`--time: ${t}: not a whole number of seconds`);
  return Number(t);
}

/**
 * Attached to a container under its monitor until its output ends (then its exit code) or the
 * detach keys (then 0, leaving it running). `start` starts it once attached, so nothing is missed.
 */
export async function attachAndWait(engine: EngineService, record: ContainerRecord, opts: { stdin: boolean; start?: (beforeStart: () => Promise<void>) => Promise<unknown> }): Promise<number> {
  const exit = engine.watchExit(record.id);
  try {
    let attachment: ReturnType<typeof attach> | undefined;
    const connect = async () => {
      attachment = attach({ id: record.id, bundle: engine.monitorPaths(record.id).bundle, stdin: opts.stdin, tty: record.tty, event: { root: engine.root, container: record } });
    };
    if (opts.start) await opts.start(connect);
    else await connect();
    const connected = attachment as unknown as ReturnType<typeof attach>;
    const how = await connected.done;
    connected.close();
    return how === 'detached' ? 0 : await exit.wait();
  } finally {
    exit.release();
  }
}

const TIME_FLAGS: Flag[] = [
  { name: 'time', short: 't', value: 'SECONDS', help: 'Seconds to wait before killing the container (default 10)' },
  { name: 'timeout', value: 'SECONDS', help: '--time', hidden: true },
];

export const ENV_FLAGS: Flag[] = [
  { name: 'env', short: 'e', repeatable: true, value: 'KEY=VALUE', help: 'Set environment variables' },
  { name: 'env-file', repeatable: true, value: 'FILE', help: 'Read in a file of environment variables' },
];

/**
 * The environment of `-e` and `--env-file` as docker's CLI reads them: each file's lines first
 * (blank ones and `#` comments skipped, the value kept verbatim, a bare NAME taken from berth's
 * own environment when set there), then each -e (a bare NAME alike).
 */
export function envOption(p: Parsed): string[] {
  const fromFiles = list(p, 'env-file').flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--env-file: ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
    }
    return text.split('\n').flatMap((raw, n) => {
      const line = raw.replace(/\r$/, '').trimStart();
      if (!line || line.startsWith('#')) return [];
      const eq = line.indexOf('=');
      const name = eq < 0 ? line : line.slice(0, eq);
      if (!name || /\s/.test(name)) throw new UsageError(`--env-file: ${file}:${n + 1}: variable '${name}' contains whitespaces or is empty`);
      return eq >= 0 ? [line] : ownValue(name);
    });
  });
  // -e NAME: the value it has here, as docker's CLI reads it; unset here, unset in the container.
  const fromFlags = list(p, 'env').flatMap((e) => (e.includes('=') ? [e] : ownValue(e)));
  return [...fromFiles, ...fromFlags];
}

/** A bare NAME as NAME=VALUE with the value it has in berth's own environment; none when unset there. */
function ownValue(name: string): string[] {
  const value = process.env[name];
  return value === undefined ? [] : [`${name}=${value}`];
}

export const lifecycleCommands: CommandSpec[] = [
  {
    name: 'start',
    aliases: ['container start'],
    section: 'containers',
    summary: 'Start one or more stopped containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: [
      { name: 'attach', short: 'a', boolean: true, help: "Attach STDOUT/STDERR and forward signals" },
      { name: 'interactive', short: 'i', boolean: true, help: "Attach container's STDIN" },
    ],
    async run({ engine }, p) {
      if (bool(p, 'attach')) {
        const [ref, ...rest] = p.positionals;
        if (!ref || rest.length) throw new UsageError('start -a: exactly one container');
        const record = engine.containers.find(ref);
        return attachAndWait(engine, record, { stdin: bool(p, 'interactive') && record.openStdin, start: (beforeStart) => engine.start(ref, { beforeStart }) });
      }
      return eachOperand(p.positionals, { verb: 'start', noun: 'container' }, async (ref) => void (await engine.start(ref)));
    },
  },

  {
    name: 'stop',
    aliases: ['container stop'],
    section: 'containers',
    summary: 'Stop one or more running containers (its stop signal, then SIGKILL)',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: TIME_FLAGS,
    async run({ engine }, p) {
      const timeout = timeoutFlag(p);
      return eachOperand(p.positionals, { verb: 'stop', noun: 'container' }, async (ref) => void (await engine.stop(ref, timeout)));
    },
  },

  {
    name: 'restart',
    aliases: ['container restart'],
    section: 'containers',
    summary: 'Restart one or more containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: TIME_FLAGS,
    async run({ engine }, p) {
      const timeout = timeoutFlag(p);
      return eachOperand(p.positionals, { verb: 'restart', noun: 'container' }, async (ref) => void (await engine.restart(ref, timeout)));
    },
  },

  {
    name: 'kill',
    aliases: ['container kill'],
    section: 'containers',
    summary: 'Kill one or more running containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: [{ name: 'signal', short: 's', value: 'SIGNAL', help: 'Signal to send to the container (default SIGKILL)' }],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'kill', noun: 'container' }, (ref) => engine.kill(ref, str(p, 'signal') ?? 'SIGKILL'));
    },
  },

  {
    name: 'pause',
    aliases: ['container pause'],
    section: 'containers',
    summary: 'Pause all processes within one or more containers (the cgroup freezer)',
    usage: 'CONTAINER [CONTAINER...]',
    flags: [],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'pause', noun: 'container' }, (ref) => engine.pause(ref));
    },
  },

  {
    name: 'unpause',
    aliases: ['container unpause'],
    section: 'containers',
    summary: 'Unpause all processes within one or more containers',
    usage: 'CONTAINER [CONTAINER...]',
    flags: [],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'unpause', noun: 'container' }, (ref) => engine.unpause(ref));
    },
  },

  {
    name: 'wait',
    aliases: ['container wait'],
    section: 'containers',
    summary: 'Block until one or more containers stop, then print their exit codes',
    usage: 'CONTAINER [CONTAINER...]',
    flags: [],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'wait', noun: 'container', echo: false }, async (ref) => void process.stdout.write(`${await engine.wait(ref)}\n`));
    },
  },

  {
    name: 'rename',
    aliases: ['container rename'],
    section: 'containers',
    summary: 'Rename a container',
    usage: 'CONTAINER NEW_NAME',
    flags: [],
    async run({ engine }, p) {
      const [ref, name, ...rest] = p.positionals;
      if (!ref || !name || rest.length) throw new UsageError('rename: berth rename CONTAINER NEW_NAME');
      await engine.rename(ref, name);
      return 0;
    },
  },

  {
    name: 'attach',
    aliases: ['container attach'],
    section: 'containers',
    summary: "Attach local standard input, output, and error streams to a running container (Ctrl-P Ctrl-Q detaches)",
    usage: '[OPTIONS] CONTAINER',
    flags: [{ name: 'no-stdin', boolean: true, help: 'Do not attach STDIN' }],
    async run({ engine }, p) {
      const [ref, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('attach: exactly one container');
      const record = await engine.inspect(ref);
      if (record.state.status !== 'running') throw new UsageError(`cannot attach to a stopped container, start it first`);
      if (!record.monitored) throw new UsageError(`container ${record.name} runs in the foreground of its berth run: there is nothing to attach to`);
      return attachAndWait(engine, record, { stdin: record.openStdin && !bool(p, 'no-stdin') });
    },
  },

  {
    name: 'logs',
    aliases: ['container logs'],
    section: 'containers',
    summary: 'Fetch the logs of a container',
    usage: '[OPTIONS] CONTAINER',
    flags: [
      { name: 'follow', short: 'f', boolean: true, help: 'Follow log output' },
      { name: 'timestamps', short: 't', boolean: true, help: 'Show timestamps' },
      { name: 'since', value: 'TIME', help: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
      { name: 'until', value: 'TIME', help: 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
      { name: 'tail', short: 'n', value: 'N|all', help: 'Number of lines to show from the end of the logs (default all)' },
      { name: 'details', boolean: true, help: 'Show extra details provided to logs (none in berth)' },
    ],
    async run({ engine }, p) {
      const [ref, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('logs: exactly one container');
      const record = await engine.inspect(ref);
      const tailText = str(p, 'tail');
      if (tailText !== undefined && tailText !== 'all' && !/^\d+$/.test(tailText)) throw new UsageError(`--tail: ${tailText}: a number of lines or "all"`);
      const since = str(p, 'since');
      const until = str(p, 'until');
      await printLogs(
        engine.monitorPaths(record.id).log,
        {
          timestamps: bool(p, 'timestamps'),
          tail: tailText === undefined || tailText === 'all' ? undefined : Number(tailText),
          since: since === undefined ? undefined : parseLogTime(since),
          until: until === undefined ? undefined : parseLogTime(until),
          follow: bool(p, 'follow'),
          running: async () => {
            try {
              const now = await engine.inspect(record.id);
              return now.state.status === 'running' || now.state.status === 'paused';
            } catch (err) {
              if (errorKindOf(err) !== 'not-found') throw err;
              return false; // removed (--rm)
            }
          },
        },
        (stream, text) => (stream === 'stderr' ? process.stderr : process.stdout).write(text),
      );
      return 0;
    },
  },

  {
    name: 'exec',
    aliases: ['container exec'],
    section: 'containers',
    summary: 'Execute a command in a running container',
    usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
    stopAtOperand: true,
    flags: [
      { name: 'interactive', short: 'i', boolean: true, help: 'Keep STDIN open even if not attached' },
      { name: 'tty', short: 't', boolean: true, help: 'Allocate a pseudo-TTY' },
      { name: 'detach', short: 'd', boolean: true, help: 'Detached mode: run command in the background' },
      ...ENV_FLAGS,
      { name: 'workdir', short: 'w', value: 'DIR', help: 'Working directory inside the container' },
      { name: 'user', short: 'u', value: 'USER[:GROUP]', help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
      { name: 'privileged', boolean: true, help: "Give extended privileges to the command: all capabilities (the container's seccomp filter still applies, as docker's)" },
      { name: 'explain', boolean: true, help: 'Print each step of the join as a shell line, before it is taken' },
    ],
    async run({ engine }, p) {
      const [ref, ...command] = p.positionals;
      if (!ref || command.length === 0) throw new UsageError('exec: berth exec [OPTIONS] CONTAINER COMMAND [ARG...]');
      return engine.exec(ref, {
        command,
        env: envOption(p),
        workdir: str(p, 'workdir'),
        user: str(p, 'user'),
        tty: bool(p, 'tty'),
        interactive: bool(p, 'interactive'),
        detach: bool(p, 'detach'),
        privileged: bool(p, 'privileged'),
        explain: bool(p, 'explain') ? (lines) => process.stderr.write(lines.join('\n') + '\n') : undefined,
      });
    },
  },

  {
    name: 'top',
    aliases: ['container top'],
    section: 'containers',
    summary: 'Display the running processes of a container (the host\'s ps, its rows kept)',
    usage: 'CONTAINER [ps OPTIONS]',
    stopAtOperand: true,
    flags: [],
    async run({ engine }, p) {
      const [ref, ...psArgs] = p.positionals;
      if (!ref) throw new UsageError('top: berth top CONTAINER [ps OPTIONS]');
      const { header, rows } = await engine.top(ref, psArgs);
      process.stdout.write([header, ...rows].join('\n') + '\n');
      return 0;
    },
  },

  {
    name: 'stats',
    aliases: ['container stats'],
    section: 'containers',
    summary: 'Display a live stream of container(s) resource usage statistics',
    usage: '[OPTIONS] [CONTAINER...]',
    flags: [
      { name: 'no-stream', boolean: true, help: 'Disable streaming stats and only pull the first result' },
      { name: 'all', short: 'a', boolean: true, help: 'Show all containers (default shows just running)' },
      { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, a Go template ({{.Name}}), or table TEMPLATE' },
    ],
    async run({ engine }, p) {
      const stream = !bool(p, 'no-stream');
      const pick = async () =>
        p.positionals.length
          ? Promise.all(p.positionals.map((r) => engine.inspect(r)))
          : (await engine.list()).filter((r) => bool(p, 'all') || r.state.status === 'running' || r.state.status === 'paused');
      for (;;) {
        const records = await pick();
        const rows = await containerStats(engine, records);
        const format = str(p, 'format');
        const out = format
          ? formatRows(format, rows, { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O' })
          : table([['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'], ...rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs])]);
        // A live table redraws in place on a terminal, as docker's does.
        process.stdout.write((stream && process.stdout.isTTY ? '\x1b[2J\x1b[H' : '') + out);
        if (!stream) return 0;
      }
    },
  },

  {
    name: 'inspect',
    section: 'containers',
    summary: 'Return low-level information on containers or images',
    usage: '[OPTIONS] CONTAINER|IMAGE [CONTAINER|IMAGE...]',
    flags: [
      { name: 'format', short: 'f', value: 'TEMPLATE', help: 'Format output using a Go template' },
      { name: 'type', value: 'container|image', help: 'Return JSON for specified type' },
    ],
    async run({ engine }, p) {
      return inspect(engine, p.positionals, str(p, 'type'), str(p, 'format'));
    },
  },

  {
    name: 'container inspect',
    section: 'containers',
    summary: 'Display detailed information on one or more containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: [{ name: 'format', short: 'f', value: 'TEMPLATE', help: 'Format output using a Go template' }],
    async run({ engine }, p) {
      return inspect(engine, p.positionals, 'container', str(p, 'format'));
    },
  },

  {
    name: 'container cleanup',
    section: 'containers',
    summary: "The monitor's exit command: settles the container's exit (record, restart policy, --rm)",
    usage: 'ID',
    hidden: true,
    flags: [],
    async run({ engine }, p) {
      const [id, ...rest] = p.positionals;
      if (!id || rest.length) throw new UsageError('container cleanup: exactly one container id');
      await engine.cleanup(id);
      return 0;
    },
  },
];

/** `berth inspect`: containers and images in docker's shapes, JSON or a template each. */
async function inspect(engine: EngineService, refs: string[], type: string | undefined, format: string | undefined): Promise<number> {
  if (refs.length === 0) throw new UsageError('inspect: at least one container or image');
  const out: unknown[] = [];
  for (const ref of refs) {
    let record: ContainerRecord | null = null;
    if (type !== 'image') {
      try {
        record = await engine.inspect(ref);
      } catch (err) {
        if (type === 'container' || errorKindOf(err) !== 'not-found') throw err;
      }
    }
    if (record) out.push(inspectContainer(record, engine.bundleSpec(record), engine.monitorPaths(record.id), networkSettings(engine.network.record(record.id))));
    else out.push(await inspectImage(engine.images, ref));
  }
  process.stdout.write(format ? out.map((o) => renderTemplate(format, o) + '\n').join('') : JSON.stringify(out, null, 4) + '\n');
  return 0;
}

interface StatsRow {
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

/** Bytes received and sent on the container's interfaces other than lo, from its netns's /proc view. */
/** One docker stats row per container: CPU from two samples of the cgroup's usage 500 ms apart. */
async function containerStats(engine: EngineService, records: ContainerRecord[]): Promise<StatsRow[]> {
  const sample = () => new Map(records.map((r) => [r.id, engine.statsSample(r)]));
  const first = sample();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 500));
  const second = sample();
  const elapsedUsec = (performance.now() - t0) * 1000;
  return records.map((r) => {
    const a = first.get(r.id)?.cgroup;
    const b = second.get(r.id)?.cgroup;
    if (!a || !b) return { ID: r.id.slice(0, 12), Name: r.name, CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
    const cpu = ((b.cpu.usageUsec - a.cpu.usageUsec) / elapsedUsec) * 100;
    const limit = b.memory.limit ?? totalmem();
    const devices = Object.values(second.get(r.id)?.networks ?? {});
    const rx = devices.reduce((n, d) => n + d.rx_bytes, 0);
    const tx = devices.reduce((n, d) => n + d.tx_bytes, 0);
    return {
      ID: r.id.slice(0, 12),
      Name: r.name,
      CPUPerc: `${cpu.toFixed(2)}%`,
      MemUsage: `${humanSize(b.memory.usage)} / ${humanSize(limit)}`,
      MemPerc: `${((b.memory.usage / limit) * 100).toFixed(2)}%`,
      NetIO: `${humanSize(rx)} / ${humanSize(tx)}`,
      BlockIO: '--', // not read from the cgroup yet: shown as unknown rather than as zero
      PIDs: String(b.pids.current),
    };
  });
}

