// berth's container verbs: ps, rm, diff, commit, export.
import { createWriteStream } from 'node:fs';
import type { ContainerRecord } from '../engine/containers.js';
import type { Engine } from '../engine/engine.js';
import { bool, parseArgs, str, UsageError } from './args.js';
import type { Command } from './berth.js';
import { ago, humanDuration, table } from './format.js';
import { portsColumn } from './berth-network.js';

/** What a container is doing, by its record and, for one said to run, by its process. */
function liveStatus(engine: Engine, record: ContainerRecord): ContainerRecord['state']['status'] {
  if (record.state.status !== 'running' && record.state.status !== 'paused') return record.state.status;
  try {
    const status = engine.runtime.state(record.id).status;
    return status === 'paused' ? 'paused' : status === 'stopped' ? 'exited' : 'running';
  } catch {
    return 'exited'; // its runtime state is gone (a crash, a reboot): it is not running
  }
}

function statusText(engine: Engine, record: ContainerRecord): string {
  const status = liveStatus(engine, record);
  if (status === 'created') return 'Created';
  if (status === 'running') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))}`;
  if (status === 'paused') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))} (Paused)`;
  return `Exited (${record.state.exitCode}) ${ago(record.state.finishedAt)}`;
}

function quoteCommand(args: string[], truncate: boolean): string {
  const text = args.join(' ');
  return JSON.stringify(truncate && text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

export const containerCommands: Record<string, Command> = {
  async ps({ engine }, argv) {
    const p = parseArgs(argv, [
      { name: 'all', short: 'a', boolean: true },
      { name: 'quiet', short: 'q', boolean: true },
      { name: 'no-trunc', boolean: true },
      { name: 'format' },
    ]);
    const all = bool(p, 'all');
    const truncate = !bool(p, 'no-trunc');
    const records = engine.containers.list().filter((r) => all || liveStatus(engine, r) === 'running' || liveStatus(engine, r) === 'paused');
    const id = (r: ContainerRecord) => (truncate ? r.id.slice(0, 12) : r.id);
    if (bool(p, 'quiet')) {
      process.stdout.write(records.map((r) => id(r) + '\n').join(''));
    } else if (str(p, 'format') === 'json') {
      for (const r of records) {
        process.stdout.write(JSON.stringify({ ID: id(r), Image: r.image, Command: quoteCommand(r.command, truncate), CreatedAt: r.created, Status: statusText(engine, r), State: liveStatus(engine, r), Names: r.name }) + '\n');
      }
    } else {
      const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
      for (const r of records) rows.push([id(r), r.image, quoteCommand(r.command, truncate), ago(r.created), statusText(engine, r), portsColumn(engine.network.record(r.id)?.attachment?.ports ?? []), r.name]); // network: PORTS
      process.stdout.write(table(rows));
    }
    return 0;
  },

  async rm({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'force', short: 'f', boolean: true }]);
    if (p.positionals.length === 0) throw new UsageError('rm: at least one container is required');
    let failed = false;
    for (const ref of p.positionals) {
      try {
        await engine.remove(ref, bool(p, 'force'));
        process.stdout.write(`${ref}\n`);
      } catch (err) {
        process.stderr.write(`berth: ${(err as Error).message}\n`);
        failed = true;
      }
    }
    return failed ? 1 : 0;
  },

  async diff({ engine }, argv) {
    const [ref, ...rest] = parseArgs(argv, []).positionals;
    if (!ref || rest.length) throw new UsageError('diff: exactly one container is required');
    for (const change of engine.diff(ref)) process.stdout.write(`${change.kind} ${change.path}\n`);
    return 0;
  },

  async commit({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'message', short: 'm' }, { name: 'author', short: 'a' }]);
    const [ref, target, ...rest] = p.positionals;
    if (!ref || rest.length) throw new UsageError('commit: berth commit CONTAINER [REPOSITORY[:TAG]]');
    const image = await engine.commit(ref, { ref: target, comment: str(p, 'message'), author: str(p, 'author') });
    process.stdout.write(`${image.id}\n`);
    return 0;
  },

  async export({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'output', short: 'o' }]);
    const [ref, ...rest] = p.positionals;
    if (!ref || rest.length) throw new UsageError('export: exactly one container is required');
    const out = str(p, 'output');
    if (!out && process.stdout.isTTY) throw new UsageError('export: refusing to write a tar to a terminal; use -o FILE or a redirect');
    await engine.exportContainer(ref, out ? createWriteStream(out) : process.stdout);
    return 0;
  },
};
