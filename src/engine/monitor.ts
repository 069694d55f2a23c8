// A detached container's monitor is Debian's conmon, as for podman and CRI-O: it runs
// `berth-runtime create`, becomes the container's parent (a subreaper), holds its stdio or pty,
// writes its log, serves attach clients, records its exit status and then runs berth's exit
// command. The berth process that started it can exit; conmon costs ~2 MiB per container.
//
// Handshake (conmon's API version 1): conmon gets the write end of a "sync pipe" as fd 3
// (_OCI_SYNCPIPE=3) and writes one JSON line on it once the runtime has created the container:
// {"data": PID} on success, {"data": -1, "message": "..."} on failure. The container then waits on
// its exec FIFO until the engine runs the runtime's `start` (in-process, through the library).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { findUp } from '../fs/find-up.js';
import { BerthError, isMissing } from '../errors.js';

/** Where conmon makes each container's attach socket: /run/berth/socket/<id> → its bundle. */
export const SOCKET_DIR = '/run/berth/socket';

export class MonitorError extends BerthError {
  override readonly name = 'MonitorError';
}

/** The files a container's monitor reads and writes, all under the container's directory or BERTH_ROOT. */
export interface MonitorPaths {
  bundle: string;
  /** k8s-file log: `TIMESTAMP stdout|stderr F|P TEXT` lines. */
  log: string;
  /** The container's pid, written by the runtime's create. */
  pidFile: string;
  /** conmon's own pid. */
  conmonPidFile: string;
  /** conmon writes <exitDir>/<id> with the exit status: outside the container's directory, so a
   *  `run --rm` client can still read it after the container is gone. */
  exitDir: string;
}

export interface MonitorOptions {
  id: string;
  name: string;
  paths: MonitorPaths;
  /** The runtime's state root (`--root`), shared with the engine's in-process Runtime. */
  runtimeRoot: string;
  terminal: boolean;
  /** A stdin pipe for attach clients (-i). */
  stdin: boolean;
  /** The container's stdin stays open when an attach client leaves (`run -dit`), rather than
   *  ending with the first client's input (`run -i`, docker's StdinOnce). */
  keepStdinOpen: boolean;
  /** BERTH_ROOT for the exit command. */
  berthRoot: string;
}

/** node, and the bundled berth and berth-runtime scripts of this package. */
function executables(): { node: string; berth: string; runtime: string; conmon: string } {
  // The loaders (scripts/bundle.mjs): the bundles with their code cache, without the ESM loader.
  const berth = findUp(import.meta.url, 'dist/bin/berth.cjs');
  const runtime = findUp(import.meta.url, 'dist/bin/berth-runtime.cjs');
  if (!berth || !runtime) throw new MonitorError('the berth bundles (dist/bin/*.cjs) are missing: run npm run build');
  const conmon = ['/usr/bin/conmon', '/usr/libexec/podman/conmon'].find((p) => existsSync(p));
  if (!conmon) throw new MonitorError('conmon is not installed (apt-get install conmon): detached containers need it as their monitor');
  return { node: process.execPath, berth, runtime, conmon };
}

/** conmon's command line. The runtime is node running berth-runtime.cjs: the same node as this process. */
export function conmonArgv(opts: MonitorOptions): string[] {
  const exe = executables();
  const { paths } = opts;
  const argv = [
    exe.conmon,
    '--api-version', '1',
    '--cid', opts.id,
    '--cuuid', opts.id,
    '--name', opts.name,
    '--runtime', exe.node,
    '--runtime-arg', exe.runtime,
    '--runtime-arg', '--root',
    '--runtime-arg', opts.runtimeRoot,
    '--bundle', paths.bundle,
    '--container-pidfile', paths.pidFile,
    '--conmon-pidfile', paths.conmonPidFile,
    '--log-path', `k8s-file:${paths.log}`,
    '--exit-dir', paths.exitDir,
    '--socket-dir-path', SOCKET_DIR,
    '--log-level', 'error',
    '--exit-command', exe.node,
    ...['--exit-command-arg', exe.berth, '--exit-command-arg', 'container', '--exit-command-arg', 'cleanup', '--exit-command-arg', opts.id],
  ];
  if (opts.terminal) argv.push('--terminal');
  if (opts.stdin) argv.push('--stdin');
  if (opts.stdin && opts.keepStdinOpen) argv.push('--leave-stdin-open');
  return argv;
}

/** The exit file conmon writes when the container's process ends; null while it runs. */
export function readExitFile(paths: Pick<MonitorPaths, 'exitDir'>, id: string): number | null {
  try {
    const text = readFileSync(join(paths.exitDir, id), 'utf8').trim();
    return text === '' ? null : Number(text);
  } catch (err) {
    if (!isMissing(err)) throw err;
    return null;
  }
}

export function removeExitFile(paths: Pick<MonitorPaths, 'exitDir'>, id: string): void {
  rmSync(join(paths.exitDir, id), { force: true });
}

/**
 * The environment of conmon and of the node processes it starts (berth-runtime, the exit command).
 * Without NODE_EXTRA_CA_CERTS: Node 20 reads and parses that bundle of certificates at every start
 * (about 75 ms here, more than the runtime's own work), and neither process makes a TLS connection.
 */
function monitorEnv(berthRoot: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, _OCI_SYNCPIPE: '3', BERTH_ROOT: berthRoot };
  delete env.NODE_EXTRA_CA_CERTS;
  return env;
}

/** Reads the first JSON line conmon writes on the sync pipe. */
function firstLine(stream: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        stream.off('data', onData);
        resolve(text.slice(0, nl));
      }
    };
    stream.on('data', onData);
    stream.on('end', () => reject(new MonitorError('conmon closed its sync pipe before the container was created')));
    stream.on('error', reject);
  });
}

/**
 * Starts conmon for a container and waits until the runtime has created it (its process waits on
 * the exec FIFO). Returns the container's pid and conmon's. A failure of the runtime comes back
 * as conmon reports it: the runtime's own one-line error.
 */
export async function startMonitor(opts: MonitorOptions): Promise<{ pid: number; conmonPid: number }> {
  mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o700 });
  mkdirSync(opts.paths.exitDir, { recursive: true, mode: 0o700 });
  removeExitFile(opts.paths, opts.id);
  rmSync(opts.paths.pidFile, { force: true });
  const [cmd, ...args] = conmonArgv(opts);
  const child = spawn(cmd, args, {
    // conmon's fd 3 is the sync pipe; its own stdio goes to /dev/null once it has daemonised.
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    // conmon writes an "oom" file in its cwd when the container is OOM-killed (podman starts it in
    // the container's directory too), and would keep the caller's cwd busy for the container's life.
    cwd: opts.paths.bundle,
    env: monitorEnv(opts.berthRoot),
    detached: true,
  });
  const syncPipe = child.stdio[3] as Readable;
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new MonitorError(`cannot start conmon: ${err.message}`)));
    child.once('spawn', () => resolve());
  });
  try {
    await spawned;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code) => {
        // conmon's first process exits 0 once it has forked its monitor: only a failure here matters.
        if (code !== 0) reject(new MonitorError(`conmon failed (exit ${code}): ${stderr.trim().split('\n')[0] || 'no message'}`));
      }),
    );
    const line = await Promise.race([firstLine(syncPipe), exited]);
    let message: { data?: number; message?: string };
    try {
      message = JSON.parse(line) as typeof message;
    } catch {
      throw new MonitorError(`conmon sent an unreadable sync message: ${line}`);
    }
    if (typeof message.data !== 'number' || message.data <= 0) {
      throw new MonitorError(runtimeMessage(message.message) ?? 'the runtime failed to create the container');
    }
    const conmonPid = Number(readFileSync(opts.paths.conmonPidFile, 'utf8').trim());
    return { pid: message.data, conmonPid };
  } finally {
    syncPipe.destroy();
    child.stderr?.destroy();
    child.unref();
  }
}

/** The runtime's own error out of what conmon relays ("berth-runtime: ..." lines, JSON log lines). */
function runtimeMessage(relayed: string | undefined): string | undefined {
  if (!relayed) return undefined;
  const lines = relayed.trim().split('\n').filter(Boolean);
  const last = lines[lines.length - 1] ?? '';
  return last.replace(/^berth-runtime: /, '') || undefined;
}
