#!/usr/bin/env node
// berth: the docker-like engine. Images, registries and container lifecycle arrive with their
// issues; today it reports what the host offers (`berth info`).
import { release } from 'node:os';
import { detectCgroupLayout } from '../cgroups/detect.js';

const USAGE = `berth: a container engine built from kernel primitives

usage: berth COMMAND

commands:
  info       what this host offers containers (cgroup layout, kernel)
  version    berth's version

The OCI runtime is berth-runtime (see berth-runtime --help).
`;

function info(): void {
  const layout = detectCgroupLayout();
  process.stdout.write(
    [
      `Kernel: ${release()}`,
      `Cgroup layout: ${layout.mode}`,
      `Cgroup v1 hierarchies: ${layout.v1.map((h) => h.controllers.join(',')).join(' ') || 'none'}`,
      `Cgroup v2 mount: ${layout.v2 ?? 'none'}`,
    ].join('\n') + '\n',
  );
}

const [command] = process.argv.slice(2);
if (command === 'info') info();
else if (command === 'version' || command === '--version') process.stdout.write('berth version 0.1.0\n');
else {
  process.stdout.write(USAGE);
  process.exitCode = command === undefined || command === '--help' || command === 'help' ? 0 : 1;
}
