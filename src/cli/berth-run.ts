// `berth run` and `berth create`: a container from an image and docker's flags. run's container
// runs in the foreground of this process (no monitor) unless it must outlive it: detached (-d),
// detachable (-it) or restarted by a policy, when conmon watches it.
import type { EngineService } from '../engine/service.js';
import { initBinary } from '../engine/container-spec.js';
import { parseMountFlags } from '../engine/mount-flags.js';
import { parseRestartPolicy } from '../engine/restart-policy.js';
import { bool, list, str, UsageError, type Parsed } from './args.js';
import { attachAndWait, ENV_FLAGS, envOption } from './berth-lifecycle.js';
import { HOST_OPTION_FLAGS, hostOptionsOf } from './berth-host-options.js';
import { RUN_NETWORK_FLAGS, runNetworkRequest } from './berth-network.js';
import { ensureImageForRun, TLS_FLAG } from './berth-registry.js';
import { SECURITY_FLAGS, securityRequest } from './berth-security.js';
import type { CommandSpec, Flag } from './command.js';
import { parseBytes } from './runtime-cgroup-commands.js';

/** The flags `run` and `update` share: the limits and the restart policy. */
export const LIMIT_FLAGS: Flag[] = [
  { name: 'restart', value: 'POLICY', help: 'Restart policy: no, on-failure[:N], always, unless-stopped' },
  { name: 'cpus', value: 'N', help: 'Number of CPUs' },
  { name: 'memory', short: 'm', value: 'BYTES', help: 'Memory limit (e.g. 512m, 1g)' },
  { name: 'pids-limit', value: 'N', help: 'Tune container pids limit (-1 for unlimited)' },
];

/** --cpus, --memory and --pids-limit, checked. */
export function limitOptions(p: Parsed): { cpus?: number; memory?: number; pidsLimit?: number } {
  const cpus = str(p, 'cpus');
  const memory = str(p, 'memory');
  const pids = str(p, 'pids-limit');
  if (cpus !== undefined && !(Number(cpus) > 0)) throw new UsageError(`--cpus: ${cpus}: must be a positive number`);
  if (pids !== undefined && !/^-?\d+$/.test(pids)) throw new UsageError(`--pids-limit: ${pids}: not an integer`);
  return {
    cpus: cpus === undefined ? undefined : Number(cpus),
    memory: memory === undefined ? undefined : parseBytes('memory', memory),
    pidsLimit: pids === undefined ? undefined : Number(pids),
  };
}

const RUN_FLAGS: Flag[] = [
  { name: 'detach', short: 'd', boolean: true, help: 'Run container in background and print container ID' },
  { name: 'interactive', short: 'i', boolean: true, help: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', boolean: true, help: 'Allocate a pseudo-TTY' },
  { name: 'rm', boolean: true, help: 'Automatically remove the container when it exits' },
  { name: 'name', value: 'NAME', help: 'Assign a name to the container' },
  ...ENV_FLAGS,
  { name: 'workdir', short: 'w', value: 'DIR', help: 'Working directory inside the container' },
  { name: 'user', short: 'u', value: 'USER[:GROUP]', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'hostname', short: 'h', value: 'NAME', help: 'Container host name' },
  { name: 'entrypoint', value: 'COMMAND', help: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'label', short: 'l', repeatable: true, value: 'KEY=VALUE', help: 'Set meta data on a container' },
  { name: 'read-only', boolean: true, help: "Mount the container's root filesystem as read only" },
  { name: 'init', boolean: true, help: 'Run an init (tini) inside the container that forwards signals and reaps processes' },
  { name: 'stop-signal', value: 'SIGNAL', help: 'Signal to stop the container (default: the image\'s, else SIGTERM)' },
  ...LIMIT_FLAGS,
  { name: 'volume', short: 'v', repeatable: true, value: '[SRC:]DST[:OPTS]', help: 'Bind mount a volume' },
  { name: 'mount', repeatable: true, value: 'type=bind|volume|tmpfs,...', help: 'Attach a filesystem mount to the container' },
  { name: 'tmpfs', repeatable: true, value: 'DST[:OPTS]', help: 'Mount a tmpfs directory' },
  ...RUN_NETWORK_FLAGS,
  ...SECURITY_FLAGS,
  ...HOST_OPTION_FLAGS,
  { name: 'pull', value: 'missing|always|never', help: 'Pull image before running (default missing)' },
  { name: 'platform', value: 'OS/ARCH[/VARIANT]', help: 'Set platform if server is multi-platform capable' },
  TLS_FLAG,
  { name: 'isolation', value: 'default|chroot', help: 'default: namespaces and pivot_root; chroot: a plain chroot, for teaching (escapable)' },
  { name: 'explain', boolean: true, help: 'Print every step (cgroup writes, mounts, syscalls) as a shell line before it is taken' },
];

function runOptions(p: Parsed) {
  const isolation = str(p, 'isolation') ?? 'default';
  if (isolation !== 'default' && isolation !== 'chroot') throw new UsageError(`--isolation: ${isolation}: use default or chroot`);
  if (isolation === 'chroot' && bool(p, 'read-only')) throw new UsageError('--read-only needs a mount namespace: it cannot go with --isolation chroot');
  return {
    ...limitOptions(p),
    env: envOption(p),
    workdir: str(p, 'workdir'),
    user: str(p, 'user'),
    hostname: str(p, 'hostname') ?? '',
    entrypoint: str(p, 'entrypoint'),
    name: str(p, 'name'),
    readOnly: bool(p, 'read-only'),
    terminal: bool(p, 'tty'),
    isolation: isolation as 'default' | 'chroot',
    rm: bool(p, 'rm'),
    labels: Object.fromEntries(list(p, 'label').map((l) => [l.split('=')[0], l.slice(l.split('=')[0].length + 1)])),
    restart: parseRestartPolicy(str(p, 'restart') ?? 'no'),
    init: bool(p, 'init') ? initBinary() : undefined,
    interactive: bool(p, 'interactive'),
    stopSignal: str(p, 'stop-signal'),
    mounts: parseMountFlags({ volumes: list(p, 'volume'), mounts: list(p, 'mount'), tmpfs: list(p, 'tmpfs') }),
    network: runNetworkRequest(p),
    security: securityRequest(p),
    hostOptions: hostOptionsOf(p),
  };
}

/** --pull (default missing), --platform, --tls-verify: the image in the store before the container is made. */
function pullPolicy(engine: EngineService, image: string, p: Parsed): Promise<void> {
  return ensureImageForRun(engine, image, { policy: str(p, 'pull') ?? 'missing', platform: str(p, 'platform'), tlsVerify: p.flags['tls-verify'] !== false });
}

export const runCommands: CommandSpec[] = [
  {
    name: 'run',
    aliases: ['container run'],
    section: 'containers',
    summary: 'Create and run a new container from an image',
    usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
    stopAtOperand: true,
    flags: RUN_FLAGS,
    async run({ engine }, p) {
      const [image, ...command] = p.positionals;
      if (!image) throw new UsageError('run: an image is required (berth run [OPTIONS] IMAGE [COMMAND] [ARG...])');
      const explain = bool(p, 'explain') ? (lines: string[]) => process.stderr.write(lines.join('\n') + '\n') : undefined;
      const opts = runOptions(p);
      await pullPolicy(engine, image, p);
      const detach = bool(p, 'detach');
      if (opts.rm && opts.restart.name !== 'no') throw new UsageError('conflicting options: --restart and --rm');
      // Under a monitor when the container must outlive this process: detached, detachable (-it), or
      // restarted by policy. Otherwise it runs here, in the foreground, with no monitor at all.
      const monitored = detach || (opts.terminal && opts.interactive) || opts.restart.name !== 'no';
      const record = await engine.create({ ...opts, image, command, explain, monitored, detach });
      if (!monitored) return engine.runForeground(record, explain);
      try {
        if (detach) {
          await engine.start(record.id, { explain });
          process.stdout.write(`${record.id}\n`);
          return 0;
        }
        return await attachAndWait(engine, record, { stdin: opts.interactive, start: (beforeStart) => engine.start(record.id, { explain, beforeStart }) });
      } catch (err) {
        // The container goes with the failure, as --rm asks; the failure is what is reported.
        if (opts.rm) await engine.remove(record.id, true).catch(() => undefined);
        throw err;
      }
    },
  },

  {
    name: 'create',
    aliases: ['container create'],
    section: 'containers',
    summary: 'Create a new container',
    usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
    stopAtOperand: true,
    flags: RUN_FLAGS.filter((f) => f.name !== 'detach' && f.name !== 'explain'),
    async run({ engine }, p) {
      const [image, ...command] = p.positionals;
      if (!image) throw new UsageError('create: an image is required (berth create [OPTIONS] IMAGE [COMMAND] [ARG...])');
      const opts = runOptions(p);
      if (opts.rm && opts.restart.name !== 'no') throw new UsageError('conflicting options: --restart and --rm');
      await pullPolicy(engine, image, p);
      const record = await engine.create({ ...opts, image, command, monitored: true, detach: !opts.interactive });
      process.stdout.write(`${record.id}\n`);
      return 0;
    },
  },
];
