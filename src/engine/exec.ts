// `berth exec`: a process joining a running container, through the runtime library in this
// process, with the container's process settings (capabilities, env, user, cwd) as the base and
// the flags on top.
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderPlan } from '../explain/render.js';
import type { Spec } from '../oci/runtime-spec.js';
import { proxyConsole } from '../runtime/console.js';
import { exitCodeOf } from '../runtime/container.js';
import { givenEnv } from './container-spec.js';
import { ContainerStoreError, type ContainerRecord } from './containers.js';
import { monitorPaths, pathsOf, type EngineContext, type Explain } from './context.js';
import { recordContainerEvent, type ContainerActor } from './events.js';
import { layerDirsOf, readImageFile } from './layers.js';
import { allCapabilities } from './security.js';
import { inspectContainer } from './stop.js';
import { groupAddIds, resolveUser } from './users.js';

export interface ExecOptions {
  command: string[];
  env: string[];
  workdir?: string;
  user?: string;
  tty: boolean;
  interactive: boolean;
  detach: boolean;
  /** --privileged: every capability for this process only; it stays under the container's seccomp filter, as docker's. */
  privileged?: boolean;
  explain?: Explain;
  /** Streams other than this process's stdio (the Engine API's connection). */
  io?: ExecIO;
  /** The exec instance's id, when its exec_create event was recorded already (the API's create); absent: made and recorded here. */
  execId?: string;
}

export interface ExecIO {
  /** The process's stdin, stdout and stderr (without a terminal). */
  stdio: [number, number, number];
  /** With a terminal: its pty master, to serve until its output ends (instead of our own terminal). */
  console?: (master: number) => { done: Promise<void>; stop(): void };
  /** Its pid, once it runs. */
  started?: (pid: number) => void;
}

/** docker's exec_create event: the command in its action, the instance's id in its attributes. */
export function recordExecCreate(root: string, container: ContainerActor, execId: string, command: string[]): void {
  recordContainerEvent(root, container, `exec_create: ${command.join(' ')}`, { execID: execId });
}

/** The container's config.json as the engine wrote it. */
export function bundleSpec(ctx: EngineContext, record: ContainerRecord): Spec {
  return JSON.parse(readFileSync(join(monitorPaths(ctx, record.id).bundle, 'config.json'), 'utf8')) as Spec;
}

/** `exec -u`: names looked up in the container's own passwd and group files (its upper dir over its layers). */
function resolveContainerUser(ctx: EngineContext, record: ContainerRecord, user: string): { uid: number; gid: number; additionalGids: number[] } {
  const layers = [...layerDirsOf(ctx.root, record.layers), pathsOf(ctx, record).upper];
  const readFile = (path: string) => readImageFile(layers, path);
  const resolved = resolveUser(user, readFile);
  // As docker's exec -u: the container's --group-add too.
  const groupAdd = groupAddIds(record.hostOptions?.GroupAdd ?? [], readFile);
  return { uid: resolved.uid, gid: resolved.gid, additionalGids: [...new Set([...resolved.additionalGids, ...groupAdd])] };
}

/** Its exit code, or 0 detached. */
export async function execInContainer(ctx: EngineContext, ref: string, opts: ExecOptions): Promise<number> {
  const record = await inspectContainer(ctx, ref);
  if (record.state.status === 'paused') throw new ContainerStoreError(`container ${record.name} is paused, unpause the container before exec`);
  if (record.state.status !== 'running') throw new ContainerStoreError(`container ${record.name} is not running`);
  const spec = bundleSpec(ctx, record);
  const base = spec.process;
  const env = [...(base.env ?? [])];
  for (const entry of givenEnv(opts.env)) {
    const at = env.findIndex((x) => x.split('=')[0] === entry.split('=')[0]);
    if (at >= 0) env[at] = entry;
    else env.push(entry);
  }
  if (opts.tty && !env.some((e) => e.startsWith('TERM='))) env.push('TERM=xterm');
  const user = opts.user === undefined ? base.user : resolveContainerUser(ctx, record, opts.user);
  const proc = { ...base, args: opts.command, env, cwd: opts.workdir ?? base.cwd, user, terminal: opts.tty };
  const execId = opts.execId ?? randomBytes(32).toString('hex');
  if (opts.execId === undefined) recordExecCreate(ctx.root, record, execId, opts.command);
  const execAction = (verb: string) => `${verb}: ${opts.command.join(' ')}`;
  if (opts.privileged) {
    const all = allCapabilities();
    proc.capabilities = { bounding: all, effective: all, permitted: all };
  }
  const devNull = openSync('/dev/null', 'r+');
  try {
    const [ownIn, ownOut, ownErr] = opts.io?.stdio ?? [0, 1, 2];
    const stdin = opts.interactive && !opts.detach ? ownIn : devNull;
    const out = opts.detach ? devNull : ownOut;
    const err = opts.detach ? devNull : ownErr;
    const started = await ctx.runtime.exec(record.id, proc, {
      stdio: [stdin, out, err],
      foregroundConsole: opts.tty && !opts.detach,
      onPlan: opts.explain && ((plan, rootfs) => opts.explain?.(renderPlan(plan, { rootfs }))),
    });
    if (!started) return 0;
    recordContainerEvent(ctx.root, record, execAction('exec_start'), { execID: execId });
    opts.io?.started?.(started.process.pid);
    if (opts.detach) {
      started.process.release();
      return 0;
    }
    const serve = opts.io?.console ?? ((master: number) => proxyConsole(master));
    const console = started.consoleMaster === undefined ? null : serve(started.consoleMaster);
    const status = await started.process.watch();
    if (console) {
      await console.done;
      console.stop();
    }
    const exitCode = exitCodeOf(status);
    recordContainerEvent(ctx.root, record, 'exec_die', { execID: execId, exitCode: String(exitCode) });
    return exitCode;
  } finally {
    closeSync(devNull);
  }
}
