// berth's system verbs: info, version and service (system df is with the images, whose store it reads).
import { release } from 'node:os';
import { DEFAULT_IDLE_SECONDS, DEFAULT_URI, parseServiceUri, startService } from '../api/server.js';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { defaultRoot } from '../image/index.js';
import { eventFilter, streamEvents, type EngineEvent } from '../engine/events.js';
import { parseLogTime } from '../engine/logs.js';
import { bool, filterPairs, list, str, UsageError } from './args.js';
import { imagePruneOptions, pruneBuildCache, pruneImages } from '../engine/images.js';
import { containerPruneFilters } from '../engine/remove.js';
import { humanSize } from '../units.js';
import type { CommandSpec } from './command.js';
import { renderTemplate } from './template.js';

export const VERSION = '0.1.0';

/** docker's line for an event: time, type, action, actor, and its attributes sorted. */
function eventLine(e: EngineEvent): string {
  const ns = String(e.timeNano % 1e9 >= 0 ? Math.round(e.timeNano % 1e9) : 0).padStart(9, '0');
  const time = new Date(Math.floor(e.timeNano / 1e6)).toISOString().replace(/\.\d+Z$/, `.${ns}Z`);
  const attrs = Object.keys(e.Actor.Attributes).sort().map((k) => `${k}=${e.Actor.Attributes[k]}`);
  return `${time} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}`;
}

/** An event as docker's templates see it: Go's field names. */
function templateData(e: EngineEvent) {
  return { Status: e.status ?? '', ID: e.id ?? '', From: e.from ?? '', Type: e.Type, Action: e.Action, Actor: e.Actor, Scope: e.scope, Time: e.time, TimeNano: e.timeNano };
}

export const systemCommands: CommandSpec[] = [
  {
    name: 'system prune',
    section: 'system',
    summary: 'Remove stopped containers, unused networks, dangling images (all unused with -a) and the build cache; volumes with --volumes',
    usage: '[OPTIONS]',
    flags: [
      { name: 'all', short: 'a', boolean: true, help: 'Remove all unused images, not just dangling ones' },
      { name: 'force', short: 'f', boolean: true, help: 'Do not prompt for confirmation (berth does not prompt)' },
      { name: 'volumes', boolean: true, help: 'Prune anonymous volumes too' },
      { name: 'filter', value: 'KEY=VALUE', repeatable: true, help: 'Filter: until=TIME (created before), label=KEY[=VALUE], label!=KEY[=VALUE]' },
    ],
    async run({ engine }, p) {
      if (p.positionals.length) throw new UsageError('system prune: no arguments expected');
      // Both parsers refuse a bad filter before anything is removed (until, label and label! only).
      const containerFilters = containerPruneFilters(filterPairs(p));
      const imageOptions = imagePruneOptions(filterPairs(p), bool(p, 'all'));
      // docker's order: containers first (freeing their images, networks and volumes), the rest after.
      const containers = await engine.pruneContainers(containerFilters);
      const networks = await engine.network.pruneNetworks();
      const volumes = bool(p, 'volumes') ? engine.volumes.prune(engine.containers.list(), false) : { removed: [], reclaimed: 0 };
      const images = await pruneImages(engine.images, engine.containers, imageOptions);
      const cache = await pruneBuildCache(engine.images, engine.containers);
      const out: string[] = [];
      const section = (title: string, lines: string[]) => lines.length && out.push(`${title}:\n${lines.map((l) => `${l}\n`).join('')}\n`);
      section('Deleted Containers', containers.deleted);
      section('Deleted Networks', networks);
      section('Deleted Volumes', volumes.removed);
      section('Deleted Images', [...images.untagged.map((n) => `untagged: ${n}`), ...images.deletedImages.map((id) => `deleted: ${id}`)]);
      section('Deleted build cache objects', cache.deletedImages);
      out.push(`Total reclaimed space: ${humanSize(containers.reclaimed + volumes.reclaimed + images.reclaimedBytes + cache.reclaimedBytes)}\n`);
      process.stdout.write(out.join(''));
      return 0;
    },
  },

  {
    name: 'events',
    aliases: ['system events'],
    section: 'system',
    summary: 'Get real time events from the engine (without --until it follows them)',
    usage: '[OPTIONS]',
    flags: [
      { name: 'filter', short: 'f', value: 'KEY=VALUE', repeatable: true, help: 'Filter: type, event, container, image, label, network, volume' },
      { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, or a Go template ({{.Action}})' },
      { name: 'since', value: 'TIME', help: 'Show events since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
      { name: 'until', value: 'TIME', help: 'Stream events until this timestamp' },
    ],
    async run({ engine }, p) {
      if (p.positionals.length) throw new UsageError('events: no operands');
      const pairs = list(p, 'filter').map((f): [string, string] => {
        const eq = f.indexOf('=');
        if (eq <= 0) throw new UsageError(`--filter ${f}: not KEY=VALUE`);
        return [f.slice(0, eq), f.slice(eq + 1)];
      });
      const since = str(p, 'since');
      const until = str(p, 'until');
      const format = str(p, 'format');
      const render = format === 'json' ? (e: EngineEvent) => JSON.stringify(e) : format ? (e: EngineEvent) => renderTemplate(format, templateData(e)) : eventLine;
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      await streamEvents(engine.root, {
        since: since === undefined ? undefined : parseLogTime(since),
        until: until === undefined ? undefined : parseLogTime(until),
        filter: eventFilter(pairs),
        onEvent: (e) => process.stdout.write(render(e) + '\n'),
        signal: stop.signal,
      });
      return 0;
    },
  },

  {
    name: 'info',
    aliases: ['system info'],
    section: 'system',
    summary: 'Display system-wide information: the kernel, the storage root, the cgroup layout',
    usage: '',
    flags: [],
    async run() {
      const layout = detectCgroupLayout();
      process.stdout.write(
        [
          `Kernel: ${release()}`,
          `Storage root: ${defaultRoot()}`,
          `Cgroup layout: ${layout.mode}`,
          `Cgroup v1 hierarchies: ${layout.v1.map((h) => h.controllers.join(',')).join(' ') || 'none'}`,
          `Cgroup v2 mount: ${layout.v2 ?? 'none'}`,
        ].join('\n') + '\n',
      );
      return 0;
    },
  },

  {
    name: 'version',
    section: 'system',
    summary: 'Show the berth version information',
    usage: '',
    flags: [],
    async run() {
      process.stdout.write(`berth version ${VERSION}\n`);
      return 0;
    },
  },

  {
    name: 'system service',
    section: 'system',
    summary: 'Serve the Docker Engine API (podman\'s system service): DOCKER_HOST=unix:///run/berth/berth.sock',
    usage: '[OPTIONS] [URI]',
    flags: [{ name: 'time', short: 't', value: 'SECONDS', help: `Exit after SECONDS without a client; 0 serves until stopped (default ${DEFAULT_IDLE_SECONDS})` }],
    async run({ engine }, p) {
      const [uri = DEFAULT_URI, ...rest] = p.positionals;
      if (rest.length) throw new UsageError('system service: at most one URI');
      const time = str(p, 'time') ?? String(DEFAULT_IDLE_SECONDS);
      if (!/^\d+$/.test(time)) throw new UsageError(`--time ${time}: not a number of seconds`);
      const log = (line: string) => process.stderr.write(`berth system service: ${line}\n`);
      const service = await startService({ listen: parseServiceUri(uri), idleSeconds: Number(time), service: { engine, version: VERSION }, log });
      const stop = () => service.close();
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      await service.done;
      // Waits the service still had in progress (a client's wait for an exit, the exits kept for
      // late waits) are polls of the store: they end with the process, and the containers go on.
      process.exit(0);
    },
  },
];
