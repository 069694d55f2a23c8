// `berth --help`, `berth CMD --help`, `berth help CMD`, a group's list of verbs, the suggestion
// for a mistyped command, and the README's command list: all read from the command table.
import { SECTIONS, type CommandSpec, type Flag, type Section } from './command.js';

const SECTION_TITLES: Record<Section, string> = {
  containers: 'Containers',
  images: 'Images',
  volumes: 'Volumes',
  networks: 'Networks',
  registries: 'Registries',
  system: 'System',
};

const TOP_USAGE = 'Usage:  berth [--help | --version] COMMAND [OPTIONS]';
const TAGLINE = 'A container engine built from kernel primitives, that shows its work.';
const FOOTER = [
  "Run 'berth COMMAND --help' (or 'berth help COMMAND') for its usage and flags.",
  "'berth completion bash|zsh|fish' prints a completion script for that shell.",
  'Storage lives under $BERTH_ROOT (default /var/lib/berth).',
];

function visible(table: readonly CommandSpec[]): CommandSpec[] {
  return table.filter((c) => !c.hidden);
}

/** Rows of two columns, the first padded to the widest. */
function columns(rows: [string, string][], indent = '  '): string[] {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `${indent}${a.padEnd(width)}   ${b}`.trimEnd());
}

/** `-d, --detach` or `    --name NAME`, as docker aligns them. */
function flagLabel(flag: Flag): string {
  const long = `--${flag.name}${flag.value ? ` ${flag.value}` : ''}`;
  return flag.short ? `-${flag.short}, ${long}` : `    ${long}`;
}

/** `berth --help`: every command by section, one line each. */
export function topHelp(table: readonly CommandSpec[]): string {
  const lines = [TOP_USAGE, '', TAGLINE];
  for (const section of SECTIONS) {
    const commands = visible(table).filter((c) => c.section === section);
    if (commands.length === 0) continue;
    lines.push('', `${SECTION_TITLES[section]}:`, ...columns(commands.map((c) => [c.name, c.summary])));
  }
  lines.push('', ...FOOTER);
  return lines.join('\n') + '\n';
}

/** `berth image --help`: the group's verbs. */
export function groupHelp(table: readonly CommandSpec[], group: string): string {
  const verbs = visible(table).flatMap((c) =>
    [c.name, ...(c.aliases ?? [])].filter((n) => n.startsWith(`${group} `)).map((n): [string, string] => [n.slice(group.length + 1), c.summary]),
  );
  const lines = [`Usage:  berth ${group} COMMAND`, '', `berth ${group}'s commands:`, ...columns(verbs)];
  lines.push('', `Run 'berth ${group} COMMAND --help' for its usage and flags.`);
  return lines.join('\n') + '\n';
}

/** `berth CMD --help`: its usage, summary, other names and flags. */
export function commandHelp(command: CommandSpec): string {
  const lines = [`Usage:  berth ${command.name}${command.usage ? ` ${command.usage}` : ''}`, '', command.summary];
  if (command.aliases?.length) lines.push('', 'Aliases:', `  ${[command.name, ...command.aliases].map((n) => `berth ${n}`).join(', ')}`);
  const flags = command.flags.filter((f) => !f.hidden);
  if (flags.length) lines.push('', 'Options:', ...columns(flags.map((f) => [flagLabel(f), f.help])));
  if (command.stopAtOperand) lines.push('', 'Flags go before the first operand: what follows it is the command, with its own flags.');
  return lines.join('\n') + '\n';
}

/** The edit distance of two words (insertions, deletions, substitutions, swaps of two neighbours). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The names a mistyped `word` may have meant: the nearest within two edits (cobra's distance), and those it begins. */
export function suggestions(word: string, names: readonly string[]): string[] {
  const typed = word.toLowerCase();
  const scored = names.map((name) => ({ name, d: distance(typed, name) }));
  const nearest = Math.min(...scored.map((s) => s.d));
  return scored
    .filter(({ name, d }) => (d <= 2 && d === nearest) || (typed.length >= 2 && name.startsWith(typed)))
    .sort((x, y) => x.d - y.d || x.name.localeCompare(y.name))
    .map((s) => s.name)
    .slice(0, 3);
}

/** The words a command line starts with: single commands and groups (`image`). */
export function firstWords(table: readonly CommandSpec[]): string[] {
  const words = new Set<string>(['help', 'completion']);
  for (const c of visible(table)) for (const name of [c.name, ...(c.aliases ?? [])]) words.add(name.split(' ')[0]);
  return [...words].sort();
}

/** The lines between which README.md holds the command list (scripts/readme-commands.mjs writes it). */
export const README_BEGIN = '<!-- commands: written by scripts/readme-commands.mjs from the command table -->';
export const README_END = '<!-- end of commands -->';

/** The README's list of commands, a markdown table per section. */
export function markdownCommandList(table: readonly CommandSpec[]): string {
  const lines: string[] = [];
  for (const section of SECTIONS) {
    const commands = visible(table).filter((c) => c.section === section);
    if (commands.length === 0) continue;
    if (lines.length) lines.push('');
    lines.push(`**${SECTION_TITLES[section]}**`, '', '| command | what it does |', '| --- | --- |');
    // A | inside a cell, even in code, ends the cell in GitHub's tables: escaped.
    const cell = (text: string) => text.replace(/\|/g, '\\|');
    for (const c of commands) lines.push(`| \`${cell(`berth ${c.name}${c.usage ? ` ${c.usage}` : ''}`)}\` | ${cell(c.summary)} |`);
  }
  return lines.join('\n') + '\n';
}
