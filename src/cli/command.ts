// What a command of `berth` is: a row of the command table. Its name, its docker-worded summary,
// its operands and its flags are data, so that one table gives the parser, `berth --help`,
// `berth CMD --help`, shell completion and the README's command list. The subcommand files each
// export their rows; commands.ts gathers them; berth.ts dispatches.
import type { EngineService } from '../engine/service.js';
import type { FlagSpec, Parsed } from './args.js';

export interface Ctx {
  engine: EngineService;
}

/** A flag as help shows it. */
export interface Flag extends FlagSpec {
  /** What its value is, for help (`--name NAME`); absent for a boolean flag. */
  value?: string;
  /** One line. */
  help: string;
  /** Accepted (docker's spelling), left out of help and completion: `--net` beside `--network`. */
  hidden?: boolean;
}

/** The sections of `berth --help`, in its order. */
export const SECTIONS = ['containers', 'images', 'volumes', 'networks', 'registries', 'system'] as const;
export type Section = (typeof SECTIONS)[number];

export interface CommandSpec {
  /** `ps`, or a group and its verb: `image ls`. */
  name: string;
  /** Other names for it: `container ls` for `ps`. */
  aliases?: string[];
  section: Section;
  /** One line, docker's words where docker has the command. */
  summary: string;
  /** What follows the name in the usage line: `[OPTIONS] CONTAINER [CONTAINER...]`. */
  usage: string;
  flags: Flag[];
  /** Flags end at the first operand, whose rest is the container's command (`run`, `exec`). */
  stopAtOperand?: boolean;
  /** Not a user's command (the monitor's exit command): left out of help and completion. */
  hidden?: boolean;
  run(ctx: Ctx, p: Parsed): Promise<number>;
}
