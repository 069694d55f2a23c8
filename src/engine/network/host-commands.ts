// The host's own networking tools, run as a person would type them: iproute2's `ip` and
// nftables' `nft`, each command both run and, for --explain, shown as the shell line it is.
// Batches (`ip -batch -`, `nft -f -`) keep a container's setup to a handful of processes; they
// are shown as here-documents, which a person can paste as they are.
import { spawn, spawnSync } from 'node:child_process';
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
  return outcome(cmd, r.error, r.status, r.stdout, r.stderr);
}

/**
 * The same, without waiting for it: for a command that may run while another does (nft's ruleset
 * beside ip's links; neither needs what the other makes). Shown at once, so that --explain lists
 * the commands in the order they are started, which is an order a person can type them in.
 */
export function runHostCommandAsync(cmd: HostCommand, explain?: Explain): Promise<string> {
  explain?.([renderCommand(cmd)]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd.argv[0], cmd.argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let failed: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.stdin.on('error', () => undefined); // a tool that exits without reading: its status says why
    child.stdin.end(cmd.input ?? '');
    child.once('error', (err) => (failed = err));
    child.once('close', (status) => {
      try {
        resolve(outcome(cmd, failed, status, stdout, stderr));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function outcome(cmd: HostCommand, error: Error | undefined, status: number | null, stdout: string, stderr: string): string {
  if (error) throw new HostCommandError(`${cmd.argv[0]}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed (scripts/setup.sh installs it)' : error.message}`, '');
  if (status !== 0) {
    const complaint = stderr.split('\n').find((l) => l.trim() && !/^\s*\^/.test(l)) ?? `exit ${status}`;
    throw new HostCommandError(`${cmd.argv.slice(0, 3).join(' ')}: ${complaint.trim()}`, stderr);
  }
  return stdout;
}

/** Waits for every one of them, then fails with the first failure: nothing is left running behind an error. */
export async function settleAll(work: (Promise<unknown> | null)[]): Promise<void> {
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

/** A sysctl under /proc/sys, written as `sysctl -w` would. */
export function writeSysctl(name: string, value: string, explain?: Explain): void {
  explain?.([`sysctl -w ${name}=${value}`]);
  writeFileSync(`/proc/sys/${name.replaceAll('.', '/')}`, value);
}
