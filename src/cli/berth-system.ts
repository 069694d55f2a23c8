// berth's system verbs: info, version and service (system df is with the images, whose store it reads).
import { release } from 'node:os';
import { DEFAULT_IDLE_SECONDS, DEFAULT_URI, parseServiceUri, startService } from '../api/server.js';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { defaultRoot } from '../image/index.js';
import { str, UsageError } from './args.js';
import type { CommandSpec } from './command.js';

export const VERSION = '0.1.0';

export const systemCommands: CommandSpec[] = [
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
