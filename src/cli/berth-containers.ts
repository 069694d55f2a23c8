// berth's container verbs: ps, rm, diff, commit, export.
import { createWriteStream } from 'node:fs';
import type { ContainerRecord } from '../engine/containers.js';
import { bool, list, parseArgs, str, UsageError } from './args.js';
import { renderTemplate } from './template.js';
import type { Command } from './command.js';
import { ago, table } from './format.js';
import { humanDuration } from '../units.js';
import { portsColumn } from './berth-network.js';

function statusText(record: ContainerRecord): string {
  const { status } = record.state;
  if (status === 'created') return 'Created';
  if (status === 'running') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))}`;
  if (status === 'paused') return `Up ${humanDuration(Date.now() - Date.parse(record.state.startedAt ?? record.created))} (Paused)`;
  return `Exited (${record.state.exitCode}) ${ago(record.state.finishedAt)}`;
}

function quoteCommand(args: string[], truncate: boolean): string {
  const text = args.join(' ');
  return JSON.stringify(truncate && text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

/** docker ps --filter KEY=VALUE: status, name (substring), id (prefix), label (k or k=v), exited, ancestor. */
function psFilter(filters: string[]): (r: ContainerRecord) => boolean {
  const tests = filters.map((f) => {
    const eq = f.indexOf('=');
    if (eq < 0) throw new UsageError(`--filter ${f}: use KEY=VALUE`);
    const key = f.slice(0, eq);
    const value = f.slice(eq + 1);
    switch (key) {
      case 'status':
        if (!['created', 'running', 'paused', 'exited', 'restarting', 'removing', 'dead'].includes(value)) throw new UsageError(`--filter status=${value}: not a container status`);
        return (r: ContainerRecord) => r.state.status === value;
      case 'name':
        return (r: ContainerRecord) => r.name.includes(value.replace(/^\//, ''));
      case 'id':
        return (r: ContainerRecord) => r.id.startsWith(value);
      case 'label': {
        const [k, ...v] = value.split('=');
        return (r: ContainerRecord) => k in r.labels && (v.length === 0 || r.labels[k] === v.join('='));
      }
      case 'exited':
        return (r: ContainerRecord) => r.state.status === 'exited' && String(r.state.exitCode) === value;
      case 'ancestor':
        return (r: ContainerRecord) => r.image === value || r.imageId.replace(/^sha256:/, '').startsWith(value.replace(/^sha256:/, ''));
      default:
        throw new UsageError(`--filter ${key}: unknown filter (status, name, id, label, exited, ancestor)`);
    }
  });
  return (r) => tests.every((t) => t(r));
}

export const containerCommands: Record<string, Command> = {
  async ps({ engine }, argv) {
    const p = parseArgs(argv, [
      { name: 'all', short: 'a', boolean: true },
      { name: 'quiet', short: 'q', boolean: true },
      { name: 'no-trunc', boolean: true },
      { name: 'filter', short: 'f', repeatable: true },
      { name: 'last', short: 'n' },
      { name: 'latest', short: 'l', boolean: true },
      { name: 'format' },
    ]);
    const filters = list(p, 'filter');
    const truncate = !bool(p, 'no-trunc');
    const last = bool(p, 'latest') ? 1 : str(p, 'last') === undefined ? undefined : Number(str(p, 'last'));
    // -a, -n and a status filter show stopped containers too, as docker's.
    const all = bool(p, 'all') || last !== undefined || filters.some((f) => f.startsWith('status='));
    const matches = psFilter(filters);
    let records = (await engine.list()).filter((r) => (all || r.state.status === 'running' || r.state.status === 'paused') && matches(r));
    if (last !== undefined) records = records.slice(0, last);
    const id = (r: ContainerRecord) => (truncate ? r.id.slice(0, 12) : r.id);
    const row = (r: ContainerRecord) => ({
      ID: id(r),
      Image: r.image,
      Command: quoteCommand(r.command, truncate),
      CreatedAt: r.created,
      RunningFor: ago(r.created),
      Status: statusText(r),
      State: r.state.status,
      Names: r.name,
      Labels: Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(','),
      Ports: portsColumn(engine.network.record(r.id)?.attachment?.ports ?? []),
    });
    const format = str(p, 'format');
    if (bool(p, 'quiet')) {
      process.stdout.write(records.map((r) => id(r) + '\n').join(''));
    } else if (format === 'json') {
      for (const r of records) process.stdout.write(JSON.stringify(row(r)) + '\n');
    } else if (format) {
      for (const r of records) process.stdout.write(renderTemplate(format, row(r)) + '\n');
    } else {
      const rows = [['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES']];
      for (const r of records) {
        const x = row(r);
        rows.push([x.ID, x.Image, x.Command, x.RunningFor, x.Status, x.Ports, x.Names]);
      }
      process.stdout.write(table(rows));
    }
    return 0;
  },

  async 'container ls'(ctx, argv) {
    return containerCommands.ps(ctx, argv);
  },

  async 'container prune'({ engine }, argv) {
    parseArgs(argv, [{ name: 'force', short: 'f', boolean: true }]);
    const stopped = (await engine.list()).filter((r) => r.state.status === 'exited' || r.state.status === 'created');
    if (stopped.length) process.stdout.write('Deleted Containers:\n');
    for (const r of stopped) {
      await engine.remove(r.id, false);
      process.stdout.write(`${r.id}\n`);
    }
    return 0;
  },

  async rm({ engine }, argv) {
    const p = parseArgs(argv, [{ name: 'force', short: 'f', boolean: true }, { name: 'volumes', short: 'v', boolean: true }]);
    if (p.positionals.length === 0) throw new UsageError('rm: at least one container is required');
    let failed = false;
    for (const ref of p.positionals) {
      try {
        await engine.remove(ref, bool(p, 'force'), bool(p, 'volumes'));
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
