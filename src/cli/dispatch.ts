// From a command line to a row of the command table and its run: `berth --help`, `berth help
// CMD`, `berth CMD --help`, a group's verbs (`berth image`), a mistyped name's suggestion,
// `berth completion SHELL`, and docker's exit statuses (125 when berth fails, 126/127 when the
// container's program cannot be run, else the container's own).
import { Engine } from '../engine/engine.js';
import { errorMessageOf, exitStatusOf } from '../errors.js';
import { defaultRoot } from '../image/index.js';
import { parseArgs, UsageError, type Parsed } from './args.js';
import type { CommandSpec, Ctx, Flag } from './command.js';
import { completionScript, SHELLS } from './completion.js';
import { commandHelp, firstWords, groupHelp, suggestions, topHelp } from './help.js';
import { reportCommand } from './command-kind.js';

const HELP_FLAG: Flag = { name: 'help', boolean: true, help: 'Print this usage and exit' };

/** The two-word commands' first words: `image` of `image ls`. */
function groups(table: readonly CommandSpec[]): Set<string> {
  return new Set(table.flatMap((c) => [c.name, ...(c.aliases ?? [])]).filter((n) => n.includes(' ')).map((n) => n.split(' ')[0]));
}

function find(table: readonly CommandSpec[], name: string): CommandSpec | undefined {
  return table.find((c) => c.name === name || c.aliases?.includes(name));
}

/** `help` and `completion`: rows of the table like the others, which read the whole table. */
export function withBuiltins(commands: readonly CommandSpec[]): CommandSpec[] {
  const table: CommandSpec[] = [...commands];
  table.push(
    {
      name: 'help',
      section: 'system',
      summary: "Print a command's usage and flags, or the list of commands",
      usage: '[COMMAND]',
      flags: [],
      async run(_ctx, p) {
        process.stdout.write(helpFor(table, p.positionals));
        return 0;
      },
    },
    {
      name: 'completion',
      section: 'system',
      summary: 'Print a completion script for bash, zsh or fish',
      usage: SHELLS.join('|'),
      flags: [],
      async run(_ctx, p) {
        const [shell, ...rest] = p.positionals;
        if (!shell || rest.length) throw new UsageError(`completion: berth completion ${SHELLS.join('|')}`);
        process.stdout.write(completionScript(shell, table));
        return 0;
      },
    },
  );
  return table;
}

/** The help `berth help WORDS...` prints: the top list, a group's verbs, or a command's usage. */
function helpFor(table: readonly CommandSpec[], words: string[]): string {
  if (words.length === 0) return topHelp(table);
  const name = words.join(' ');
  const command = find(table, name);
  if (command && !command.hidden) return commandHelp(command);
  if (words.length === 1 && groups(table).has(name)) return groupHelp(table, name);
  throw unknownCommand(table, words);
}

function unknownCommand(table: readonly CommandSpec[], words: string[]): UsageError {
  const name = words.join(' ');
  const group = words.length > 1 && groups(table).has(words[0]) ? words[0] : undefined;
  const names = group
    ? table.filter((c) => !c.hidden).flatMap((c) => [c.name, ...(c.aliases ?? [])]).filter((n) => n.startsWith(`${group} `)).map((n) => n.slice(group.length + 1))
    : firstWords(table);
  const similar = suggestions(group ? words[1] : words[0], names).map((s) => `"${group ? `${group} ${s}` : s}"`);
  const hint = similar.length ? `: did you mean ${similar.join(' or ')}?` : '';
  return new UsageError(`unknown command "${name}"${hint} (see berth ${group ? `${group} ` : ''}--help)`);
}

/** The command a line names, and its arguments; a bare group (`berth image`) is its help. */
function resolve(table: readonly CommandSpec[], argv: string[]): { command: CommandSpec; args: string[] } | { help: string } {
  const [first, ...rest] = argv;
  if (groups(table).has(first) && !find(table, first)) {
    const [verb, ...args] = rest;
    if (verb === undefined || verb === '--help') return { help: groupHelp(table, first) };
    const command = find(table, `${first} ${verb}`);
    if (!command) throw unknownCommand(table, [first, verb]);
    return { command, args };
  }
  const command = find(table, first);
  if (!command) throw unknownCommand(table, [first]);
  return { command, args: rest };
}

/** Parses a command's flags (with --help, which every command takes) and operands. */
export function parseCommandLine(command: CommandSpec, args: string[]): Parsed {
  return parseArgs(args, [...command.flags, HELP_FLAG], command.stopAtOperand);
}

export async function main(table: readonly CommandSpec[], argv: string[]): Promise<number> {
  const [first] = argv;
  try {
    if (first === undefined || first === '--help' || first === '-h') {
      process.stdout.write(topHelp(table));
      return 0;
    }
    const resolved = resolve(table, first === '--version' ? ['version'] : argv);
    if ('help' in resolved) {
      process.stdout.write(resolved.help);
      return 0;
    }
    const p = parseCommandLine(resolved.command, resolved.args);
    if (p.flags.help === true) {
      process.stdout.write(commandHelp(resolved.command));
      return 0;
    }
    reportCommand(argv.slice(0, argv.length - resolved.args.length), p.flags);
    let engine: Engine | undefined;
    // The engine (its stores under the root) is made when a command first asks for it: help,
    // completion and version touch no storage.
    const ctx: Ctx = {
      get engine() {
        return (engine ??= new Engine(defaultRoot()));
      },
    };
    return await resolved.command.run(ctx, p);
  } catch (err) {
    process.stderr.write(`berth: ${errorMessageOf(err)}\n`);
    if (process.env.BERTH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return exitStatusOf(err);
  }
}
