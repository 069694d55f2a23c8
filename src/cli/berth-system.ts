// berth's system verbs: info and version (system df is with the images, whose store it reads).
import { release } from 'node:os';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { defaultRoot } from '../image/index.js';
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
];
