// `berth completion bash|zsh|fish`: a completion script for that shell, written from the command
// table: command names, a group's verbs, each command's flags, and the names of containers where
// a command takes one (asked of berth itself as the user types, `berth ps -a --format`).
import type { CommandSpec } from './command.js';
import { firstWords } from './help.js';
import { UsageError } from './args.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;

interface Words {
  first: string[];
  /** A group's verbs: `image` → `ls rm ...`. */
  verbs: Map<string, string[]>;
  /** A command's flags, long and short: `run` → `--name -d ...`. */
  flags: Map<string, string[]>;
  /** Commands whose operands are containers. */
  takesContainer: string[];
}

function words(table: readonly CommandSpec[]): Words {
  const verbs = new Map<string, string[]>();
  const flags = new Map<string, string[]>();
  const takesContainer: string[] = [];
  for (const c of table.filter((c) => !c.hidden)) {
    for (const name of [c.name, ...(c.aliases ?? [])]) {
      const [group, verb] = name.split(' ');
      if (verb !== undefined) verbs.set(group, [...(verbs.get(group) ?? []), verb]);
      flags.set(name, ['--help', ...c.flags.filter((f) => !f.hidden).flatMap((f) => (f.short ? [`--${f.name}`, `-${f.short}`] : [`--${f.name}`]))]);
      if (/CONTAINER/.test(c.usage)) takesContainer.push(name);
    }
  }
  return { first: firstWords(table), verbs, flags, takesContainer };
}

const CONTAINERS = "berth ps -a --format '{{.Names}}' 2>/dev/null";

function bash(w: Words): string {
  const cases = (map: Map<string, string[]>, key: (k: string) => string) =>
    [...map].map(([k, v]) => `    ${JSON.stringify(key(k))}) echo ${JSON.stringify(v.join(' '))} ;;`).join('\n');
  return `# berth completion for bash: source it, or put it in /etc/bash_completion.d/berth
_berth_verbs() {
  case "$1" in
${cases(w.verbs, (k) => k)}
  esac
}
_berth_flags() {
  case "$1" in
${cases(w.flags, (k) => k)}
  esac
}
_berth() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W ${JSON.stringify(w.first.join(' '))} -- "$cur"))
    return
  fi
  local verbs; verbs=$(_berth_verbs "$cmd")
  if [ -n "$verbs" ]; then
    if [ "$COMP_CWORD" -eq 2 ]; then
      COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
      return
    fi
    cmd="$cmd \${COMP_WORDS[2]}"
  fi
  case "$cmd" in
    help) COMPREPLY=($(compgen -W ${JSON.stringify(w.first.join(' '))} -- "$cur")); return ;;
    completion) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$(_berth_flags "$cmd")" -- "$cur"))
    return
  fi
  case "$cmd" in
    ${w.takesContainer.map((n) => JSON.stringify(n)).join('|')}) COMPREPLY=($(compgen -W "$(${CONTAINERS})" -- "$cur")) ;;
  esac
}
complete -o default -F _berth berth
`;
}

function zsh(w: Words): string {
  const list = (map: Map<string, string[]>) => [...map].map(([k, v]) => `  ${JSON.stringify(k)} ${JSON.stringify(v.join(' '))}`).join('\n');
  return `#compdef berth
# berth completion for zsh: put it on $fpath as _berth, or source it after compinit
typeset -A _berth_verbs _berth_flags
_berth_verbs=(
${list(w.verbs)}
)
_berth_flags=(
${list(w.flags)}
)
_berth_takes_container=(${w.takesContainer.map((n) => JSON.stringify(n)).join(' ')})
_berth() {
  local cmd=\${words[2]}
  if (( CURRENT == 2 )); then
    compadd -- ${w.first.join(' ')}
    return
  fi
  if [[ -n \${_berth_verbs[$cmd]} ]]; then
    if (( CURRENT == 3 )); then
      compadd -- \${=_berth_verbs[$cmd]}
      return
    fi
    cmd="$cmd \${words[3]}"
  fi
  case $cmd in
    help) compadd -- ${w.first.join(' ')}; return ;;
    completion) compadd -- bash zsh fish; return ;;
  esac
  if [[ \${words[CURRENT]} == -* ]]; then
    compadd -- \${=_berth_flags[$cmd]}
  elif (( \${_berth_takes_container[(Ie)$cmd]} )); then
    compadd -- \${(f)"$(${CONTAINERS})"}
  else
    _files
  fi
}
compdef _berth berth
`;
}

function fish(w: Words): string {
  const lines = ['# berth completion for fish: put it in ~/.config/fish/completions/berth.fish', 'complete -c berth -f'];
  const noSubcommand = `not __fish_seen_subcommand_from ${w.first.join(' ')}`;
  lines.push(`complete -c berth -n '${noSubcommand}' -a '${w.first.join(' ')}'`);
  for (const [group, verbs] of w.verbs) {
    lines.push(`complete -c berth -n '__fish_seen_subcommand_from ${group}; and not __fish_seen_subcommand_from ${verbs.join(' ')}' -a '${verbs.join(' ')}'`);
  }
  for (const [name, flags] of w.flags) {
    const [first, verb] = name.split(' ');
    const when = verb === undefined ? `__fish_seen_subcommand_from ${first}` : `__fish_seen_subcommand_from ${first}; and __fish_seen_subcommand_from ${verb}`;
    const long = flags.filter((f) => f.startsWith('--')).map((f) => `-l ${f.slice(2)}`);
    const short = flags.filter((f) => /^-[^-]$/.test(f)).map((f) => `-s ${f.slice(1)}`);
    lines.push(`complete -c berth -n '${when}' ${[...long, ...short].join(' ')}`);
  }
  const containerCommands = w.takesContainer.filter((n) => !n.includes(' '));
  lines.push(`complete -c berth -n '__fish_seen_subcommand_from ${containerCommands.join(' ')}' -a '(${CONTAINERS})'`);
  lines.push(`complete -c berth -n '__fish_seen_subcommand_from help' -a '${w.first.join(' ')}'`);
  lines.push(`complete -c berth -n '__fish_seen_subcommand_from completion' -a 'bash zsh fish'`);
  return lines.join('\n') + '\n';
}

export function completionScript(shell: string, table: readonly CommandSpec[]): string {
  const w = words(table);
  if (shell === 'bash') return bash(w);
  if (shell === 'zsh') return zsh(w);
  if (shell === 'fish') return fish(w);
  throw new UsageError(`completion: ${JSON.stringify(shell)}: berth writes scripts for ${SHELLS.join(', ')}`);
}
