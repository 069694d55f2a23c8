// The host's own networking tools, run as a person would type them: iproute2's `ip` and
// nftables' `nft`, each command both run and, for --explain, shown as the shell line it is.
// Batches (`ip -batch -`, `nft -f -`) keep a container's setup to a handful of processes; they
// are shown as here-documents, which a person can paste as they are.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { shellQuote } from '../../explain/render.js';
import { BerthError } from '../../errors.js';

export interface HostCommand {
  argv: string[];
  /** Standard input: the batch or ruleset. */
  input?: string;
}

/** Receives each command's shell line before it runs. */
export type Explain = (lines: string[]) => void;

export class HostCommandError extends BerthError {
  override readonly name = 'HostCommandError';
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

export function renderCommand(cmd: HostCommand): string {
  const line = cmd.argv.map(shellQuote).join(' ');
  return cmd.input === undefined ? line : `${line} <<'EOF'\n${cmd.input.replace(/\n$/, '')}\nEOF`;
}

/** Runs it; stdout on success, else an error whose message is the tool's own first complaint. */
export function runHostCommand(cmd: HostCommand, explain?: Explain): string {
  explain?.([renderCommand(cmd)]);
  const r = spawnSync(cmd.argv[0], cmd.argv.slice(1), { input: cmd.input ?? '', encoding: 'utf8' });
  if (r.error) throw new HostCommandError(`${cmd.argv[0]}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed (scripts/setup.sh installs it)' : r.error.message}`, '');
  if (r.status !== 0) {
    const complaint = r.stderr.split('\n').find((l) => l.trim() && !/^\s*\^/.test(l)) ?? `exit ${r.status}`;
    throw new HostCommandError(`${cmd.argv.slice(0, 3).join(' ')}: ${complaint.trim()}`, r.stderr);
  }
  return r.stdout;
}

/** A sysctl under /proc/sys, written as `sysctl -w` would. */
export function writeSysctl(name: string, value: string, explain?: Explain): void {
  explain?.([`sysctl -w ${name}=${value}`]);
  writeFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, value);
}
