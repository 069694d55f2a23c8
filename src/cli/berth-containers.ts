// berth's container verbs: ps, rm, diff, commit, export.
import { createWriteStream } from 'node:fs';
import { applyChanges } from '../build/index.js';
import type { ContainerRecord } from '../engine/containers.js';
import { containerPruneFilters } from '../engine/remove.js';
import { parseRestartPolicy } from '../engine/restart-policy.js';
import { humanSize } from '../units.js';
import { LIMIT_FLAGS, limitOptions } from './berth-run.js';
import { bool, filterPairs, list, str, UsageError } from './args.js';
import { formatRows } from './template.js';
import type { CommandSpec, Flag } from './command.js';
import { eachOperand } from './operands.js';
import { ago, table } from './format.js';
import { containerFilter, statusText } from '../engine/container-list.js';
import { portsColumn } from './berth-network.js';

function quoteCommand(args: string[], truncate: boolean): string {
  const text = args.join(' ');
  return JSON.stringify(truncate && text.length > 20 ? `${text.slice(0, 19)}…` : text);
}

/** docker ps --filter KEY=VALUE (the engine's filters). */
function psFilter(filters: string[]): (r: ContainerRecord) => boolean {
  return containerFilter(
    filters.map((f) => {
      const eq = f.indexOf('=');
      if (eq < 0) throw new UsageError(`--filter ${f}: use KEY=VALUE`);
      return [f.slice(0, eq), f.slice(eq + 1)];
    }),
  );
}

const PS_FLAGS: Flag[] = [
  { name: 'all', short: 'a', boolean: true, help: 'Show all containers (default shows just running)' },
  { name: 'quiet', short: 'q', boolean: true, help: 'Only display container IDs' },
  { name: 'no-trunc', boolean: true, help: "Don't truncate output" },
  { name: 'filter', short: 'f', repeatable: true, value: 'KEY=VALUE', help: 'Filter output: status, name, id, label, exited, ancestor' },
  { name: 'last', short: 'n', value: 'N', help: 'Show the N last created containers (all states)' },
  { name: 'latest', short: 'l', boolean: true, help: 'Show the latest created container (all states)' },
  { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, or a Go template ({{.Names}})' },
];

export const containerCommands: CommandSpec[] = [
  {
    name: 'ps',
    aliases: ['container ls'],
    section: 'containers',
    summary: 'List containers',
    usage: '[OPTIONS]',
    flags: PS_FLAGS,
    async run({ engine }, p) {
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
      } else if (format) {
        process.stdout.write(formatRows(format, records.map(row), { ID: 'CONTAINER ID', RunningFor: 'CREATED', CreatedAt: 'CREATED AT' }));
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
  },

  {
    name: 'container prune',
    section: 'containers',
    summary: 'Remove all stopped containers',
    usage: '[OPTIONS]',
    flags: [
      { name: 'force', short: 'f', boolean: true, help: 'Do not prompt for confirmation (berth does not prompt)' },
      { name: 'filter', value: 'KEY=VALUE', repeatable: true, help: 'Filter: until=TIME (created before), label=KEY[=VALUE], label!=KEY[=VALUE]' },
    ],
    async run({ engine }, p) {
      const { deleted, reclaimed } = await engine.pruneContainers(containerPruneFilters(filterPairs(p)));
      if (deleted.length) process.stdout.write(`Deleted Containers:\n${deleted.map((id) => `${id}\n`).join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
      return 0;
    },
  },

  {
    name: 'rm',
    aliases: ['container rm'],
    section: 'containers',
    summary: 'Remove one or more containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: [
      { name: 'force', short: 'f', boolean: true, help: 'Force the removal of a running container (uses SIGKILL)' },
      { name: 'volumes', short: 'v', boolean: true, help: 'Remove anonymous volumes associated with the container' },
    ],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'rm', noun: 'container' }, async (ref) => void (await engine.remove(ref, bool(p, 'force'), bool(p, 'volumes'))));
    },
  },

  {
    name: 'update',
    aliases: ['container update'],
    section: 'containers',
    summary: 'Update the CPU, memory and pids limits (live and for later starts) and the restart policy of containers',
    usage: '[OPTIONS] CONTAINER [CONTAINER...]',
    flags: LIMIT_FLAGS,
    async run({ engine }, p) {
      const restart = str(p, 'restart');
      const update = { ...limitOptions(p), ...(restart !== undefined ? { restart: parseRestartPolicy(restart) } : {}) };
      return eachOperand(p.positionals, { verb: 'update', noun: 'container' }, (ref) => engine.update(ref, update));
    },
  },

  {
    name: 'diff',
    aliases: ['container diff'],
    section: 'containers',
    summary: "Inspect changes to files or directories on a container's filesystem (A added, C changed, D deleted)",
    usage: 'CONTAINER',
    flags: [],
    async run({ engine }, p) {
      const [ref, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('diff: exactly one container is required');
      for (const change of engine.diff(ref)) process.stdout.write(`${change.kind} ${change.path}\n`);
      return 0;
    },
  },

  {
    name: 'commit',
    aliases: ['container commit'],
    section: 'containers',
    summary: "Create a new image from a container's changes",
    usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
    flags: [
      { name: 'message', short: 'm', value: 'TEXT', help: 'Commit message' },
      { name: 'author', short: 'a', value: 'NAME', help: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
      { name: 'change', short: 'c', repeatable: true, value: 'INSTRUCTION', help: 'Apply Dockerfile instruction to the created image (CMD, ENV, LABEL, ...)' },
      { name: 'pause', short: 'p', boolean: true, help: 'Pause container during commit (default true; --pause=false)' },
    ],
    async run({ engine }, p) {
      const [ref, target, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('commit: berth commit CONTAINER [REPOSITORY[:TAG]]');
      const changes = list(p, 'change');
      const image = await engine.commit(ref, {
        ref: target,
        comment: str(p, 'message'),
        author: str(p, 'author'),
        pause: p.flags.pause !== false,
        ...(changes.length ? { changeConfig: (config) => applyChanges(config, changes) } : {}),
      });
      process.stdout.write(`${image.id}\n`);
      return 0;
    },
  },

  {
    name: 'export',
    aliases: ['container export'],
    section: 'containers',
    summary: "Export a container's filesystem as a tar archive",
    usage: '[OPTIONS] CONTAINER',
    flags: [{ name: 'output', short: 'o', value: 'FILE', help: 'Write to a file, instead of STDOUT' }],
    async run({ engine }, p) {
      const [ref, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('export: exactly one container is required');
      const out = str(p, 'output');
      if (!out && process.stdout.isTTY) throw new UsageError('export: refusing to write a tar to a terminal; use -o FILE or a redirect');
      await engine.exportContainer(ref, out ? createWriteStream(out) : process.stdout);
      return 0;
    },
  },
];
