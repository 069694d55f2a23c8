// berth's registry verbs: pull, push, login, logout, with docker's flags and output. Progress is
// one line per layer, redrawn in place on a terminal, and plain status lines otherwise.
import { readFileSync } from 'node:fs';
import { ensureImage, familiarName, parsePlatform, parseReference, PULL_POLICIES, shortId, type PullPolicy } from '../image/index.js';
import type { EngineService } from '../engine/service.js';
import { progressLines, pull, pushImage, removeCredentials, storeCredentials, verifyLogin, type PullEvent, type PushEvent } from '../image/registry/index.js';
import { registryDomain } from '../image/reference.js';
import { bool, str, UsageError, type Parsed } from './args.js';
import type { CommandSpec, Flag } from './command.js';
import { humanSize } from '../units.js';

export const TLS_FLAG: Flag = { name: 'tls-verify', boolean: true, help: 'Check the registry\'s certificate (default on; --tls-verify=false also allows plain http)' };

/** --tls-verify=false turns certificate checks off (and allows plain http); default on. */
function tlsVerify(p: Parsed): boolean {
  return p.flags['tls-verify'] !== false;
}

interface Line {
  status: string;
  current: number;
  size: number;
  started: number;
}

/** Per-layer progress: redrawn in place on a terminal, one line per change of status otherwise. */
class Progress {
  private readonly lines = new Map<string, Line>();
  private drawn = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly tty: boolean,
    private readonly quiet: boolean,
  ) {}

  set(id: string, status: string, current = 0, size = 0): void {
    if (this.quiet) return;
    const line = this.lines.get(id) ?? { status, current, size, started: Date.now() };
    const changed = line.status !== status || !this.lines.has(id);
    Object.assign(line, { status, current, size });
    this.lines.set(id, line);
    if (this.tty) this.schedule();
    else if (changed) this.out.write(`${shortId(id)}: ${status}\n`);
  }

  private schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, 80);
  }

  private draw(): void {
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const [id, l] of this.lines) {
      let detail = '';
      if (l.status === 'Downloading' || l.status === 'Pushing') {
        const width = 30;
        const filled = l.size > 0 ? Math.min(width, Math.floor((l.current / l.size) * width)) : 0;
        const seconds = (Date.now() - l.started) / 1000;
        const speed = seconds > 0 ? `${humanSize(l.current / seconds)}/s` : '';
        detail = ` [${'='.repeat(filled)}>${' '.repeat(width - filled)}] ${humanSize(l.current)}/${humanSize(l.size)} ${speed}`;
      }
      text += `\x1b[2K${shortId(id)}: ${l.status}${detail}\n`;
    }
    this.drawn = this.lines.size;
    this.out.write(text);
  }

  /** Draws the last state (a terminal) and stops. */
  finish(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.tty && !this.quiet && this.lines.size > 0) this.draw();
  }

  say(text: string): void {
    if (!this.quiet) this.out.write(`${text}\n`);
  }
}

/** A pull's or a push's events drawn as docker's status lines. */
function progressOf(progress: Progress, direction: 'pull' | 'push'): (e: PullEvent | PushEvent) => void {
  return (e) => {
    for (const line of progressLines(direction, e)) progress.set(line.id, line.status, line.current, line.total);
  };
}

/**
 * `berth run/create --pull missing|always|never`: the image from the store, or pulled first as
 * docker does, its progress on stderr (stdout is the container's).
 */
export async function ensureImageForRun(engine: EngineService, text: string, opts: { policy: string; platform?: string; tlsVerify: boolean }): Promise<void> {
  const platform = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
  if (!PULL_POLICIES.includes(opts.policy as PullPolicy)) throw new UsageError(`--pull ${opts.policy}: use missing, always or never`);
  const policy = opts.policy as PullPolicy;
  const local = engine.images.find(text);
  if (policy === 'missing' && local && !platform) return;
  const progress = new Progress(process.stderr, process.stderr.isTTY === true, false);
  if (policy === 'missing' && !local) progress.say(`Unable to find image '${familiarName(parseReference(text))}' locally`);
  let result;
  try {
    result = await ensureImage(engine.images, text, { policy, platform, tlsVerify: opts.tlsVerify, onProgress: progressOf(progress, 'pull') });
  } finally {
    progress.finish();
  }
  if (result.pulled && result.downloaded > 0) progress.say(`Status: Downloaded newer image for ${familiarName(parseReference(text))}`);
}

export const registryCommands: CommandSpec[] = [
  {
    name: 'pull',
    aliases: ['image pull'],
    section: 'registries',
    summary: 'Download an image from a registry',
    usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
    flags: [
      { name: 'platform', value: 'OS/ARCH[/VARIANT]', help: 'Set platform if server is multi-platform capable' },
      { name: 'quiet', short: 'q', boolean: true, help: 'Suppress verbose output' },
      TLS_FLAG,
    ],
    async run({ engine }, p) {
      const [text, ...rest] = p.positionals;
      if (!text || rest.length) throw new UsageError('pull: berth pull [--platform OS/ARCH[/VARIANT]] [-q] IMAGE');
      const platformText = str(p, 'platform');
      const platform = platformText !== undefined ? parsePlatform(platformText) : undefined;
      const quiet = bool(p, 'quiet');
      const ref = parseReference(text);
      const progress = new Progress(process.stdout, process.stdout.isTTY === true, quiet);
      progress.say(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);
      const before = engine.images.find(text)?.id;
      let result;
      try {
        result = await pull(engine.images, text, { platform, tlsVerify: tlsVerify(p), onEvent: progressOf(progress, 'pull') });
      } finally {
        progress.finish();
      }
      const name = familiarName(parseReference(result.reference));
      if (quiet) {
        process.stdout.write(`${result.reference}\n`);
        return 0;
      }
      progress.say(`Status: ${before === result.record.id ? 'Image is up to date' : 'Downloaded newer image'} for ${name}`);
      progress.say(`Digest: ${result.digest}`);
      return 0;
    },
  },

  {
    name: 'push',
    aliases: ['image push'],
    section: 'registries',
    summary: 'Upload an image to a registry',
    usage: '[OPTIONS] NAME[:TAG] [DESTINATION]',
    flags: [{ name: 'quiet', short: 'q', boolean: true, help: 'Suppress verbose output' }, TLS_FLAG],
    async run({ engine }, p) {
      const [source, destination, ...rest] = p.positionals;
      if (!source || rest.length) throw new UsageError('push: berth push [-q] IMAGE [DESTINATION]');
      const quiet = bool(p, 'quiet');
      const dest = parseReference(destination ?? source);
      const progress = new Progress(process.stdout, process.stdout.isTTY === true, quiet);
      progress.say(`The push refers to repository [${dest.domain}/${dest.path}]`);
      let result;
      try {
        result = await pushImage(engine.images, source, destination, { tlsVerify: tlsVerify(p), onEvent: progressOf(progress, 'push') });
      } finally {
        progress.finish();
      }
      if (quiet) {
        process.stdout.write(`${result.reference}\n`);
        return 0;
      }
      progress.say(`${dest.digest ?? dest.tag}: digest: ${result.digest} size: ${result.size}`);
      progress.say(`Digest: ${result.digest}`);
      return 0;
    },
  },

  {
    name: 'login',
    section: 'registries',
    summary: 'Log in to a registry (credentials kept as docker keeps them)',
    usage: '[OPTIONS] [SERVER]',
    flags: [
      { name: 'username', short: 'u', value: 'USER', help: 'Username' },
      { name: 'password', short: 'p', value: 'PASSWORD', help: 'Password' },
      { name: 'password-stdin', boolean: true, help: 'Take the password from stdin' },
      TLS_FLAG,
    ],
    async run(_ctx, p) {
      const [server, ...rest] = p.positionals;
      if (rest.length) throw new UsageError('login: berth login [-u USER] [-p PASSWORD | --password-stdin] [REGISTRY]');
      const domain = registryDomain(server);
      const username = str(p, 'username');
      let password = str(p, 'password');
      if (bool(p, 'password-stdin')) {
        if (password !== undefined) throw new UsageError('login: --password and --password-stdin are mutually exclusive');
        password = readFileSync(0, 'utf8').replace(/\r?\n$/, '');
      } else if (password !== undefined) {
        process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      }
      if (!username) throw new UsageError('login: a username is required (-u USER)');
      if (password === undefined || password === '') throw new UsageError('login: a password is required (-p or --password-stdin)');
      await verifyLogin(domain, { username, password }, tlsVerify(p));
      storeCredentials(domain, { username, password });
      process.stdout.write('Login Succeeded\n');
      return 0;
    },
  },

  {
    name: 'logout',
    section: 'registries',
    summary: 'Log out from a registry',
    usage: '[SERVER]',
    flags: [],
    async run(_ctx, p) {
      const [server, ...rest] = p.positionals;
      if (rest.length) throw new UsageError('logout: berth logout [REGISTRY]');
      const domain = registryDomain(server);
      process.stdout.write(removeCredentials(domain) ? `Removing login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
      return 0;
    },
  },
];
