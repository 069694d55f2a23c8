// The command table of `berth`: every command, gathered from the files that define them. What
// parses a command line, prints help, writes a completion script or the README's list reads it.
import { buildCommands } from './berth-build.js';
import { containerCommands } from './berth-containers.js';
import { imageCommands } from './berth-images.js';
import { lifecycleCommands } from './berth-lifecycle.js';
import { networkCommands } from './berth-network.js';
import { registryCommands } from './berth-registry.js';
import { runCommands } from './berth-run.js';
import { systemCommands } from './berth-system.js';
import { tourCommands } from './berth-tour.js';
import { volumeCommands } from './berth-volumes.js';
import type { CommandSpec } from './command.js';

export const COMMANDS: readonly CommandSpec[] = [
  ...runCommands,
  ...lifecycleCommands,
  ...containerCommands,
  ...imageCommands,
  ...buildCommands,
  ...volumeCommands,
  ...networkCommands,
  ...registryCommands,
  ...systemCommands,
  ...tourCommands,
];
