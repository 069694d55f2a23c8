#!/usr/bin/env node
// berth: the docker-like engine. Images in (load, import), containers out (run), and the daily
// verbs around them, with docker's flags and output. Engine errors exit 125, like docker's.
import { release } from 'node:os';
import { detectCgroupLayout } from '../cgroups/detect.js';
import { Engine } from '../engine/engine.js';
import { defaultRoot } from '../image/index.js';
import { errorMessageOf, exitStatusOf } from '../errors.js';
import { parseBytes } from './runtime-cgroup-commands.js';
import { bool, list, parseArgs, str, UsageError, type Parsed } from './args.js';
import { imageCommands } from './berth-images.js';
import { containerCommands } from './berth-containers.js';
import { ensureImageForRun, registryCommands } from './berth-registry.js';
import { attachAndWait, lifecycleCommands } from './berth-lifecycle.js';
import { parseRestartPolicy } from '../engine/restart-policy.js';
import { existsSync } from 'node:fs';
import { volumeCommands } from './berth-volumes.js';
import { parseMountFlags } from '../engine/mount-flags.js';
import { networkCommands, RUN_NETWORK_FLAGS, runNetworkRequest } from './berth-network.js';
import { tourCommands } from './berth-tour.js';
import type { Ctx, Command } from './command.js';

const USAGE = `berth: a container engine built from kernel primitives

usage: berth COMMAND [OPTIONS]

containers:
  run [-d] [-i] [-t] [--rm] [--name N] [-e K=V] [-w DIR] [-u USER] [-l K=V] [--hostname H]
      [--entrypoint E] [--read-only] [--init] [--restart no|on-failure[:N]|always|unless-stopped]
      [--stop-signal S] [--pull missing|always|never] [--platform OS/ARCH] [--cpus N] [-m BYTES] [--pids-limit N] [--isolation default|chroot]
      [--explain] IMAGE [CMD...]
  create [same options as run] IMAGE [CMD...]
  start [-a] [-i] CONTAINER...         stop [-t SECONDS] CONTAINER...    restart [-t SECONDS] CONTAINER...
  kill [-s SIGNAL] CONTAINER...        pause|unpause CONTAINER...        wait CONTAINER...
  attach [--no-stdin] CONTAINER        rename CONTAINER NEW_NAME
  logs [-f] [-t] [--since T] [--until T] [--tail N] CONTAINER
  exec [-i] [-t] [-d] [-e K=V] [-w DIR] [-u USER] CONTAINER CMD...
      [-v [SRC:]DST[:ro]]... [--mount type=bind|volume|tmpfs,...]... [--tmpfs DST[:OPTS]]...
  ps [-a] [-q] [--no-trunc] [--filter K=V] [--format json|TEMPLATE]
  inspect [-f TEMPLATE] CONTAINER|IMAGE...    top CONTAINER [ps OPTIONS]    stats [--no-stream] [-a]
  rm [-f] [-v] CONTAINER...            container prune [-f]
  cp [-a] [-L] CONTAINER:SRC DEST|-   cp [-a] [-L] SRC|- CONTAINER:DEST
  diff CONTAINER                       changes of its filesystem (A added, C changed, D deleted)
  commit CONTAINER [REPOSITORY[:TAG]]  its changes as a new image
  export -o FILE CONTAINER             its filesystem as a tar
images:
  images [-q]            rmi [-f] IMAGE...      tag SOURCE TARGET
  image inspect IMAGE... image prune [-a]       history IMAGE
  load -i FILE           save -o FILE [--format docker|oci] IMAGE...
  import FILE|- [REPOSITORY[:TAG]]
volumes:
  volume create [--label K=V]... [NAME]   volume ls [-q]   volume inspect NAME...
  volume rm [-f] NAME...                  volume prune [-a] [-f]
registries:
  pull [--platform OS/ARCH] [-q] IMAGE     push [-q] IMAGE [DEST]
  login [-u USER] [-p PASS | --password-stdin] REGISTRY     logout REGISTRY
system:
  info   version   system df
  tour [CHAPTER] [--step]   how a container is built, shown on real ones, step by step
networks:
  network create [--subnet CIDR] [--gateway IP] NAME   network ls [-q]   network inspect NAME...
  network rm NAME...   network prune   network connect NET CONTAINER   network disconnect NET CONTAINER
  run: --network bridge|none|host|NAME|container:ID  -p [IP:][HPORT:]CPORT[/udp]  -P  --dns IP
       --add-host NAME:IP  --ip IP  --mac-address MAC  --network-alias NAME

Storage lives under $BERTH_ROOT (default /var/lib/berth).
`;

function runOptions(p: Parsed) {
  const isolation = str(p, 'isolation') ?? 'default';
  if (isolation !== 'default' && isolation !== 'chroot') throw new UsageError(`--isolation: ${isolation}: use default or chroot`);
  if (isolation === 'chroot' && bool(p, 'read-only')) throw new UsageError('--read-only needs a mount namespace: it cannot go with --isolation chroot');
  const cpus = str(p, 'cpus');
  const memory = str(p, 'memory');
  const pids = str(p, 'pids-limit');
  if (cpus !== undefined && !(Number(cpus) > 0)) throw new UsageError(`--cpus: ${cpus}: must be a positive number`);
  if (pids !== undefined && !/^-?\d+$/.test(pids)) throw new UsageError(`--pids-limit: ${pids}: not an integer`);
  return {
    env: list(p, 'env'),
    workdir: str(p, 'workdir'),
    user: str(p, 'user'),
    hostname: str(p, 'hostname') ?? '',
    entrypoint: str(p, 'entrypoint'),
    name: str(p, 'name'),
    readOnly: bool(p, 'read-only'),
    terminal: bool(p, 'tty'),
    cpus: cpus === undefined ? undefined : Number(cpus),
    memory: memory === undefined ? undefined : parseBytes('memory', memory),
    pidsLimit: pids === undefined ? undefined : Number(pids),
    isolation: isolation as 'default' | 'chroot',
    rm: bool(p, 'rm'),
    labels: Object.fromEntries(list(p, 'label').map((l) => [l.split('=')[0], l.slice(l.split('=')[0].length + 1)])),
    restart: parseRestartPolicy(str(p, 'restart') ?? 'no'),
    init: bool(p, 'init') ? initBinary() : undefined,
    interactive: bool(p, 'interactive'),
    stopSignal: str(p, 'stop-signal'),
    mounts: parseMountFlags({ volumes: list(p, 'volume'), mounts: list(p, 'mount'), tmpfs: list(p, 'tmpfs') }),
    network: runNetworkRequest(p),
  };
}

/** --pull (default missing), --platform, --tls-verify: the image in the store before the container is made. */
function pullPolicy(engine: Engine, image: string, p: Parsed): Promise<void> {
  return ensureImageForRun(engine, image, { policy: str(p, 'pull') ?? 'missing', platform: str(p, 'platform'), tlsVerify: p.flags['tls-verify'] !== false });
}

/** --init's PID 1: a static tini (it runs inside any image), docker's docker-init. */
function initBinary(): string {
  const found = ['/usr/bin/tini-static', '/usr/bin/catatonit', '/usr/libexec/podman/catatonit'].find((p) => existsSync(p));
  if (!found) throw new UsageError('--init: no static init found (apt-get install tini, for /usr/bin/tini-static)');
  return found;
}

const RUN_FLAGS = [
  { name: 'rm', boolean: true },
  { name: 'name' },
  { name: 'env', short: 'e', repeatable: true },
  { name: 'workdir', short: 'w' },
  { name: 'user', short: 'u' },
  { name: 'hostname', short: 'h' },
  { name: 'entrypoint' },
  { name: 'read-only', boolean: true },
  { name: 'cpus' },
  { name: 'memory', short: 'm' },
  { name: 'pids-limit' },
  { name: 'isolation' },
  ...RUN_NETWORK_FLAGS, // --network, -p, -P, --dns, --add-host, --ip, --mac-address, --network-alias
  { name: 'explain', boolean: true },
  { name: 'tty', short: 't', boolean: true },
  { name: 'interactive', short: 'i', boolean: true },
  { name: 'detach', short: 'd', boolean: true },
  { name: 'label', short: 'l', repeatable: true },
  { name: 'restart' },
  { name: 'init', boolean: true },
  { name: 'stop-signal' },
  { name: 'pull' },
  { name: 'platform' },
  { name: 'tls-verify', boolean: true },
  { name: 'volume', short: 'v', repeatable: true },
  { name: 'mount', repeatable: true },
  { name: 'tmpfs', repeatable: true },
];

const COMMANDS: Record<string, Command> = {
  async run({ engine }, argv) {
    const p = parseArgs(argv, RUN_FLAGS, true);
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
      if (opts.rm) await engine.remove(record.id, true).catch(() => undefined);
      throw err;
    }
  },

  async create({ engine }, argv) {
    const p = parseArgs(argv, RUN_FLAGS, true);
    const [image, ...command] = p.positionals;
    if (!image) throw new UsageError('create: an image is required (berth create [OPTIONS] IMAGE [COMMAND] [ARG...])');
    const opts = runOptions(p);
    if (opts.rm && opts.restart.name !== 'no') throw new UsageError('conflicting options: --restart and --rm');
    await pullPolicy(engine, image, p);
    const record = await engine.create({ ...opts, image, command, monitored: true, detach: !opts.interactive });
    process.stdout.write(`${record.id}\n`);
    return 0;
  },

  async info() {
    const layout = detectCgroupLayout();
    process.stdout.write(
      [
        `Kernel: ${release()}`,
        `Storage root: ${defaultRoot()}`,
        `Cgroup layout: ${layout.mode}`,
        `Cgroup v1 hierarchies: ${layout.v1.map((h) => h.controllers.join(',')).join(' ') || 'none'}`,
        `Cgroup v2 mount: ${layout.v2 ?? 'none'}`,
      ].join('\n') + '\n',
    );
    return 0;
  },

  async version() {
    process.stdout.write('berth version 0.1.0\n');
    return 0;
  },

  ...containerCommands,
  ...lifecycleCommands,
  ...imageCommands,
  ...registryCommands,
  ...volumeCommands,
  ...networkCommands,
  ...tourCommands,
};

const GROUPS = new Set(['image', 'system', 'container', 'volume', 'network']);

/** docker's exit codes: 125 when berth itself fails, else what the container or runtime says. */
async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version') return COMMANDS.version({} as Ctx, []);
  try {
    // `berth image ls`, `berth system df`, `berth container prune`: two-word commands.
    const name = GROUPS.has(command) ? `${command} ${rest.shift() ?? ''}` : command;
    const run = COMMANDS[name];
    if (!run) throw new UsageError(`unknown command "${name}" (see berth --help)`);
    return await run({ engine: new Engine(defaultRoot()) }, rest);
  } catch (err) {
    process.stderr.write(`berth: ${errorMessageOf(err)}\n`);
    if (process.env.BERTH_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    // A program that could not be run is 126/127; everything else is berth's own 125.
    return exitStatusOf(err);
  }
}

process.exitCode = await main(process.argv.slice(2));
