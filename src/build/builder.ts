// `berth build`: a Dockerfile evaluated step by step over the engine's operations, as docker's
// classic builder does it. Every step makes an image (kept as the build cache, hidden from
// `images`): a config-only step (ENV, CMD...) a new config over the same layers; RUN a container
// of the stage's image run in the foreground (default security, the default network unless
// --network) and committed; COPY/ADD/WORKDIR a container that is never started, whose root is
// written through `berth cp`'s code and committed. Before each, the cache is asked (cache.ts).
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import type { CopyRoot } from '../engine/container-root.js';
import type { Explain } from '../engine/context.js';
import { networkRequest } from '../engine/network/options.js';
import type { EngineService } from '../engine/service.js';
import type { Credentials } from '../image/registry/index.js';
import { resolveUser } from '../engine/users.js';
import { commitImage, ensureImage, familiarName, imageConfig, parsePlatform, parseReference, shortId, type ContainerConfig, type ImageRecord } from '../image/index.js';
import { BuildCache } from './cache.js';
import { BuildCancelledError, BuildContext, BuildError, findSources, openIn, RunFailedError } from './context.js';
import { copySources, ensureDirectory, hashSources, type CopyRequest, type Owner } from './copy.js';
import { expandWord } from './expand.js';
import { applyConfigInstruction, commandOf, failAt, normalizePath, stageVars, underWorkdir, type Stage } from './instructions.js';
import { DockerfileError, nameValuePairs, parseDockerfile, splitWords, type Instruction } from './parser.js';
import { planStages, type StagePlan } from './stages.js';

/** What `berth build` (and the Engine API's POST /build) asks for. */
export interface BuildOptions {
  /** A directory of the host, or a stream for `-`: a tar (maybe compressed), or a Dockerfile alone. */
  context: string | Readable;
  /** -f: a path of the host (directory context) or a name inside the context; default Dockerfile. */
  dockerfile?: string;
  /** -t: names for the result. */
  tags?: string[];
  /** --build-arg NAME=VALUE. */
  buildArgs?: Record<string, string>;
  /** --target: the stage to stop at. */
  target?: string;
  noCache?: boolean;
  /** --pull: always ask the registry for a FROM image. */
  pull?: boolean;
  /** --label: set on the result. */
  labels?: Record<string, string>;
  /** --network for RUN: default (the default bridge), none, host, or a network's name. */
  network?: string;
  /** --explain: each RUN's container plan, as shell lines. */
  explain?: Explain;
  /**
   * Registry credentials by registry (`docker.io`, `localhost:5000`) for the images FROM and
   * COPY --from pull: an API client's own (X-Registry-Config); a registry it does not name is
   * asked anonymously. Absent: the credentials stored for berth's own pulls (the CLI).
   */
  credentials?: Record<string, Credentials>;
  /**
   * Ends the build (SIGINT, SIGTERM, an API client gone): a running RUN is killed, its container
   * and the step's mounts are removed, and the build fails with BuildCancelledError.
   */
  signal?: AbortSignal;
}

/** Where the build's output goes: docker's classic lines (Step N/M, ---> id) and each RUN's output. */
export interface BuildProgress {
  stream(text: string | Buffer): void;
  /** The image is built: called before `Successfully built` (the API's `{"aux": {"ID": …}}` goes there). */
  built?(id: string): void;
}

export interface BuildResult {
  /** The image's id, sha256:... */
  id: string;
  tags: string[];
  /** Steps taken from the cache, and all steps. */
  cached: number;
  steps: number;
}

/**
 * The image `FROM scratch` starts from: no layer, no history, a fixed time (so its id is stable),
 * made once and found in the cache after.
 */
async function scratchImage(engine: EngineService, cache: BuildCache): Promise<string> {
  const key = BuildCache.key(['FROM scratch']);
  const found = cache.lookup(key);
  if (found !== undefined) return found.id;
  const record = await commitImage(engine.images, { layers: [], config: {}, created: new Date(0), buildCache: true });
  cache.record(key, record.id);
  return record.id;
}

class Builder {
  private readonly cache: BuildCache;
  private readonly stagesDone: Stage[] = [];
  private readonly usedArgs = new Set<string>();
  private step = 0;
  private cachedSteps = 0;

  constructor(
    private readonly engine: EngineService,
    private readonly options: BuildOptions,
    private readonly progress: BuildProgress,
    private readonly context: BuildContext,
    private readonly escape: string,
    private readonly totalSteps: number,
  ) {
    this.cache = new BuildCache(engine.root, engine.images);
  }

  private say(text: string): void {
    this.progress.stream(text);
  }

  async buildStage(plan: StagePlan, globalArgs: Map<string, string | undefined>): Promise<Stage> {
    this.announce(plan.from);
    const stage = await this.from(plan, globalArgs);
    const triggers = (stage.config.OnBuild as string[] | null | undefined) ?? [];
    if (triggers.length > 0) {
      this.say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}\n`);
      // Not passed on: the next step commits the stage's config, without them.
      stage.config = { ...stage.config, OnBuild: null };
      for (const trigger of triggers) {
        const ins = parseDockerfile(trigger).instructions[0];
        if (ins !== undefined) await this.instruction(stage, { ...ins, line: plan.from.line });
      }
    }
    for (const ins of plan.instructions) {
      this.announce(ins);
      await this.instruction(stage, ins);
    }
    this.stagesDone.push(stage);
    return stage;
  }

  /** Between steps and before a RUN starts: a cancelled build goes no further. */
  private checkCancelled(): void {
    if (this.options.signal?.aborted) throw cancelled(this.options.signal);
  }

  private announce(ins: Instruction | string): void {
    this.checkCancelled();
    this.step += 1;
    this.say(`Step ${this.step}/${this.totalSteps} : ${typeof ins === 'string' ? ins : ins.original}\n`);
  }

  private async from(plan: StagePlan, globalArgs: Map<string, string | undefined>): Promise<Stage> {
    const vars = new Map([...globalArgs].filter((e): e is [string, string] => e[1] !== undefined));
    const base = expandWord(plan.base, vars, this.escape);
    let imageId: string;
    const previous = this.stagesDone.find((s) => s.name !== undefined && s.name === base.toLowerCase());
    if (base.toLowerCase() === 'scratch') imageId = await scratchImage(this.engine, this.cache);
    else if (previous !== undefined) imageId = previous.imageId;
    else imageId = (await this.pullImage(base, plan.from, plan.platform !== undefined ? expandWord(plan.platform, vars, this.escape) : undefined)).id;
    this.say(` ---> ${shortId(imageId)}\n`);
    const config = (await imageConfig(this.engine.images, imageId)).config ?? {};
    return { index: plan.index, ...(plan.name !== undefined ? { name: plan.name } : {}), imageId, config, args: new Map() };
  }

  private async pullImage(ref: string, ins: Instruction, platform?: string) {
    try {
      const given = this.options.credentials;
      const credentials = given === undefined ? {} : { credentials: given[parseReference(ref).domain] ?? null };
      const { record } = await ensureImage(this.engine.images, ref, {
        policy: this.options.pull ? 'always' : 'missing',
        ...(platform !== undefined ? { platform: parsePlatform(platform) } : {}),
        ...credentials,
        ...(this.options.signal !== undefined ? { signal: this.options.signal } : {}),
      });
      return record;
    } catch (err) {
      throw failAt(ins, `${ref}: ${(err as Error).message}`);
    }
  }

  private async instruction(stage: Stage, ins: Instruction): Promise<void> {
    switch (ins.keyword) {
      case 'FROM':
        throw failAt(ins, 'FROM starts a stage: it cannot be an ONBUILD trigger');
      case 'ARG':
        return this.arg(stage, ins);
      case 'RUN':
        return this.run(stage, ins);
      case 'COPY':
      case 'ADD':
        return this.copy(stage, ins);
      case 'WORKDIR':
        return this.workdir(stage, ins);
      default: {
        const { config, author, createdBy, cmdSet } = applyConfigInstruction(ins, stage, this.escape);
        if (author !== undefined) stage.author = author;
        if (cmdSet) stage.cmdSet = true;
        await this.configStep(stage, config, createdBy);
      }
    }
  }

  /** The image the cache holds for a step of `stage` with these key parts (none with --no-cache). */
  private lookup(stage: Stage, keyParts: unknown[]): ImageRecord | undefined {
    return this.options.noCache ? undefined : this.cache.lookup(BuildCache.key([stage.imageId, ...keyParts]));
  }

  /** The stage moves to a cached step's image. */
  private async useCached(stage: Stage, record: ImageRecord): Promise<void> {
    this.cachedSteps += 1;
    this.say(` ---> Using cache\n ---> ${shortId(record.id)}\n`);
    stage.imageId = record.id;
    stage.config = (await imageConfig(this.engine.images, record)).config ?? {};
  }

  /** A step whose result is in the cache under `key`, or made by `make`; the stage moves to it. */
  private async cached(stage: Stage, keyParts: unknown[], make: () => Promise<string>): Promise<void> {
    const hit = this.lookup(stage, keyParts);
    if (hit !== undefined) return this.useCached(stage, hit);
    const id = await make();
    this.cache.record(BuildCache.key([stage.imageId, ...keyParts]), id);
    this.say(` ---> ${shortId(id)}\n`);
    stage.imageId = id;
    stage.config = (await imageConfig(this.engine.images, id)).config ?? {};
  }

  private async configStep(stage: Stage, config: ContainerConfig, createdBy: string): Promise<void> {
    await this.cached(stage, ['config', createdBy, config, stage.author ?? null], async () => {
      const record = await commitImage(this.engine.images, {
        parent: stage.imageId,
        layers: [],
        config,
        history: { created_by: createdBy },
        ...(stage.author !== undefined ? { author: stage.author } : {}),
        buildCache: true,
      });
      return record.id;
    });
  }

  private arg(stage: Stage, ins: Instruction): Promise<void> {
    const [[name, def]] = nameValuePairs(ins, this.escape, false) as [[string, string | undefined]];
    const given = this.options.buildArgs?.[name];
    const value = given ?? (def !== undefined ? expandWord(def, stageVars(stage), this.escape) : this.globalDefault(name));
    if (given !== undefined) this.usedArgs.add(name);
    stage.args.set(name, value);
    return this.configStep(stage, stage.config, `/bin/sh -c #(nop)  ARG ${name}${def !== undefined ? `=${def}` : ''}`);
  }

  private readonly globalArgs = new Map<string, string | undefined>();

  /** The ARGs before the first FROM: steps of their own (no image), the scope of the FROM lines. */
  declareGlobalArgs(args: Instruction[]): Map<string, string | undefined> {
    for (const ins of args) {
      this.announce(ins);
      const [[name, def]] = nameValuePairs(ins, this.escape, false) as [[string, string | undefined]];
      const vars = new Map([...this.globalArgs].filter((e): e is [string, string] => e[1] !== undefined));
      this.globalArgs.set(name, this.options.buildArgs?.[name] ?? (def !== undefined ? expandWord(def, vars, this.escape) : undefined));
      if (this.options.buildArgs?.[name] !== undefined) this.usedArgs.add(name);
    }
    return this.globalArgs;
  }

  /** `ARG NAME` in a stage without a default takes the value of the global ARG of that name. */
  private globalDefault(name: string): string | undefined {
    return this.globalArgs.get(name);
  }

  /** The build args in scope with a value, as RUN's environment and docker's `|N K=V` prefix. */
  private runArgs(stage: Stage): string[] {
    const envNames = new Set((stage.config.Env ?? []).map((e) => e.split('=')[0]));
    return [...stage.args]
      .filter((e): e is [string, string] => e[1] !== undefined && !envNames.has(e[0]))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`);
  }

  private async run(stage: Stage, ins: Instruction): Promise<void> {
    for (const f of Object.keys(ins.flags)) throw failAt(ins, `--${f}: RUN flags (BuildKit's --mount, --network, --security) are not supported`);
    const argv = commandOf(ins, stage.config);
    if (argv.length === 0 || (ins.json === undefined && ins.args === '')) throw failAt(ins, 'RUN needs a command');
    const args = this.runArgs(stage);
    const createdBy = `${args.length ? `|${args.length} ${args.join(' ')} ` : ''}${argv.join(' ')}`;
    await this.cached(stage, ['RUN', createdBy, stage.config.User ?? '', stage.config.WorkingDir ?? ''], async () => {
      const record = await this.engine.create({
        image: stage.imageId,
        command: argv,
        entrypoint: '',
        env: args,
        ...(stage.config.WorkingDir ? { workdir: stage.config.WorkingDir } : {}),
        ...(stage.config.User ? { user: stage.config.User } : {}),
        hostname: '',
        readOnly: false,
        terminal: false,
        isolation: 'default',
        rm: false,
        network: networkRequest({ network: this.options.network }),
        ...(this.options.explain ? { explain: this.options.explain } : {}),
      });
      this.say(` ---> Running in ${record.id.slice(0, 12)}\n`);
      try {
        const out = new Writable({
          write: (chunk: Buffer, _enc, done) => {
            this.progress.stream(chunk);
            done();
          },
        });
        this.checkCancelled();
        const stdin = openSync('/dev/null', 'r');
        const stopKilling = this.killOnCancel(record.id);
        let code: number;
        try {
          code = await this.engine.runForeground(record, this.options.explain, { stdin, stdout: out, stderr: out });
        } finally {
          stopKilling();
          closeSync(stdin);
        }
        this.checkCancelled();
        if (code !== 0) throw new RunFailedError(argv, code);
        const image = await this.engine.commit(record.id, { createdBy, config: stage.config, ...(stage.author !== undefined ? { author: stage.author } : {}), buildCache: true });
        return image.id;
      } finally {
        await this.engine.remove(record.id, true);
        this.say(` ---> Removing intermediate container ${record.id.slice(0, 12)}\n`);
      }
    });
  }

  /**
   * While a RUN runs: on cancel its container is killed (SIGKILL: a shell as a container's init
   * ignores SIGINT and SIGTERM), tried again until the process exists and dies, so that
   * runForeground returns and the step's cleanup removes the container, its cgroup and mounts.
   */
  private killOnCancel(id: string): () => void {
    const signal = this.options.signal;
    if (signal === undefined) return () => undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const kill = () => {
      if (done) return;
      this.engine.kill(id, 'SIGKILL').catch(() => undefined); // not running yet, or already gone
      timer = setTimeout(kill, 100);
    };
    signal.addEventListener('abort', kill, { once: true });
    return () => {
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', kill);
    };
  }

  /**
   * A container of the stage's image that is never started: `work` writes into its root, and its
   * change is committed (or, when nothing changed, only the config is: `emptyOk`).
   */
  private async containerStep(stage: Stage, createdBy: string, work: (root: CopyRoot) => Promise<void>, config: ContainerConfig = stage.config): Promise<string> {
    const record = await this.engine.create({
      image: stage.imageId,
      command: ['/bin/sh', '-c', `#(nop) ${createdBy}`],
      entrypoint: '',
      env: [],
      user: '0:0',
      hostname: '',
      readOnly: false,
      terminal: false,
      isolation: 'default',
      rm: false,
    });
    try {
      await this.engine.withContainerRoot(record.id, work);
      if (this.engine.diff(record.id).length === 0) {
        const image = await commitImage(this.engine.images, { parent: stage.imageId, layers: [], config, history: { created_by: createdBy }, ...(stage.author !== undefined ? { author: stage.author } : {}), buildCache: true });
        return image.id;
      }
      const image = await this.engine.commit(record.id, { createdBy, config, ...(stage.author !== undefined ? { author: stage.author } : {}), buildCache: true });
      return image.id;
    } finally {
      await this.engine.remove(record.id, true);
    }
  }

  private async workdir(stage: Stage, ins: Instruction): Promise<void> {
    const path = normalizePath(underWorkdir(stage.config, expandWord(ins.args, stageVars(stage), this.escape)));
    const config = { ...stage.config, WorkingDir: path };
    const createdBy = `/bin/sh -c #(nop) WORKDIR ${path}`;
    await this.cached(stage, ['WORKDIR', path], () => this.containerStep(stage, createdBy, async (root) => ensureDirectory(root, path, { uid: 0, gid: 0 }), config));
  }

  /** --chown's user and group, looked up in the image's own /etc/passwd and /etc/group. */
  private owner(root: CopyRoot, spec: string | true | undefined, ins: Instruction): Owner {
    if (spec === undefined) return { uid: 0, gid: 0 };
    if (spec === true || spec === '') throw failAt(ins, '--chown needs a user');
    const readFile = (path: string) => readInRoot(root, path);
    try {
      const [user, group] = spec.split(':', 2);
      const uid = resolveUser(user, readFile).uid;
      const gid = group === undefined || group === '' ? uid : resolveUser(`0:${group}`, readFile).gid;
      return { uid, gid };
    } catch (err) {
      throw failAt(ins, `--chown=${spec}: ${(err as Error).message}`);
    }
  }

  private async copy(stage: Stage, ins: Instruction): Promise<void> {
    const vars = stageVars(stage);
    const known = ins.keyword === 'COPY' ? ['from', 'chown', 'chmod', 'link'] : ['chown', 'chmod', 'link', 'checksum', 'keep-git-dir'];
    for (const f of Object.keys(ins.flags)) if (!known.includes(f)) throw failAt(ins, `unknown flag: --${f}`);
    for (const f of ['link', 'checksum', 'keep-git-dir']) if (f in ins.flags) throw failAt(ins, `--${f} is not supported (it is BuildKit's)`);
    const words = (ins.json ?? splitWords(ins.args, this.escape)).map((w) => expandWord(w, vars, this.escape));
    if (words.length < 2) throw failAt(ins, `${ins.keyword} requires at least two arguments, but only one was provided. Destination could not be determined.`);
    const patterns = words.slice(0, -1);
    const rawDest = words[words.length - 1]!;
    const dest = underWorkdir(stage.config, rawDest) + (rawDest.endsWith('/') && rawDest !== '/' ? '/' : '');
    if (ins.keyword === 'ADD') {
      const url = patterns.find((p) => /^[a-z][a-z0-9+.-]*:\/\//i.test(p) || p.startsWith('git@'));
      if (url !== undefined) throw failAt(ins, `${url}: ADD from a URL is not supported by berth build (this machine fetches nothing from the network during a build): download it into the context and COPY it`);
    }
    const chmodFlag = ins.flags.chmod;
    let chmod: number | undefined;
    if (chmodFlag !== undefined) {
      if (typeof chmodFlag !== 'string' || !/^[0-7]{3,4}$/.test(chmodFlag)) throw failAt(ins, `--chmod=${String(chmodFlag)}: use an octal mode like 755`);
      chmod = parseInt(chmodFlag, 8);
    }
    const chown = ins.flags.chown === undefined ? undefined : typeof ins.flags.chown === 'string' ? expandWord(ins.flags.chown, vars, this.escape) : true;
    const fromFlag = ins.flags.from;
    const source = fromFlag === undefined ? undefined : await this.copySourceImage(stage, typeof fromFlag === 'string' ? expandWord(fromFlag, vars, this.escape) : '', ins);
    // An image never changes: COPY --from is keyed by the image's id and the patterns, and looked
    // up before its root is mounted. The context's sources are keyed by their content hash.
    const fromKey = source === undefined ? undefined : [ins.keyword, dest, chown ?? null, chmod ?? null, 'from', source, patterns];
    const hit = fromKey === undefined ? undefined : this.lookup(stage, fromKey);
    if (hit !== undefined) return this.useCached(stage, hit);
    const withSourceRoot = <T>(use: (root: CopyRoot) => Promise<T>): Promise<T> =>
      source === undefined ? this.context.withRoot(use) : this.withImageRoot(source, use);
    await withSourceRoot(async (from) => {
      let sources: string[];
      try {
        sources = findSources(from, patterns, ins.keyword, source === undefined ? this.context.ignore : undefined);
      } catch (err) {
        throw new DockerfileError(`Dockerfile line ${ins.line}: ${(err as Error).message}`, { kind: 'not-found', cause: err });
      }
      const req: CopyRequest = { sources, dest, owner: { uid: 0, gid: 0 }, ...(chmod !== undefined ? { chmod } : {}), ...(source === undefined ? { ignore: this.context.ignore } : {}), extractArchives: ins.keyword === 'ADD' && source === undefined, instruction: ins.keyword };
      // The owner is looked up in the stage's image; the hash does not depend on it (it is in the key).
      const { digest: hash, kind } = await hashSources(from, req);
      const createdBy = `/bin/sh -c #(nop) ${ins.keyword} ${kind}:${hash.slice('sha256:'.length)} in ${rawDest} `;
      await this.cached(stage, fromKey ?? [ins.keyword, dest, chown ?? null, chmod ?? null, hash], () =>
        this.containerStep(stage, createdBy, async (to) => {
          const owner = this.owner(to, chown, ins);
          try {
            await copySources(from, to, { ...req, owner });
          } catch (err) {
            throw failAt(ins, (err as Error).message);
          }
        }),
      );
    });
  }

  /** COPY --from: a stage by name or index, else an image (pulled when missing). */
  private async copySourceImage(stage: Stage, from: string, ins: Instruction): Promise<string> {
    if (from === '') throw failAt(ins, '--from needs a stage or an image');
    const byName = this.stagesDone.find((s) => s.name === from.toLowerCase());
    if (byName !== undefined) return byName.imageId;
    if (/^\d+$/.test(from)) {
      const index = Number(from);
      if (index >= stage.index) throw failAt(ins, `--from=${from}: stage ${index} is not before this one`);
      return this.stagesDone[index]!.imageId;
    }
    return (await this.pullImage(from, ins)).id;
  }

  /** An image's root, for COPY --from: a container of it that is never started, removed after. */
  private async withImageRoot<T>(imageId: string, use: (root: CopyRoot) => Promise<T>): Promise<T> {
    const record = await this.engine.create({ image: imageId, command: ['/bin/sh'], entrypoint: '', env: [], user: '0:0', hostname: '', readOnly: false, terminal: false, isolation: 'default', rm: false });
    try {
      return await this.engine.withContainerRoot(record.id, use);
    } finally {
      await this.engine.remove(record.id, true);
    }
  }

  /** --label: a LABEL step each at the end, in the order of their names, as the classic builder adds them. */
  async labels(stage: Stage): Promise<void> {
    for (const [key, value] of Object.entries(this.options.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      this.announce(`LABEL ${key}=${value}`);
      const config = { ...stage.config, Labels: { ...(stage.config.Labels ?? {}), [key]: value } };
      await this.configStep(stage, config, `/bin/sh -c #(nop)  LABEL ${key}=${value}`);
    }
  }

  unusedArgs(): string[] {
    return Object.keys(this.options.buildArgs ?? {}).filter((a) => !this.usedArgs.has(a));
  }

  get counts() {
    return { cached: this.cachedSteps, steps: this.step };
  }
}

function cancelled(signal: AbortSignal): BuildCancelledError {
  const why = typeof signal.reason === 'string' ? signal.reason : 'cancelled';
  return new BuildCancelledError(`the build was stopped (${why}): nothing of the step it was in is left`);
}

/** A file of a root (null when absent), read with the root as "/". */
function readInRoot(root: CopyRoot, path: string): string | null {
  const fd = openIn(root, path, true);
  if (fd === null) return null;
  try {
    return readFileSync(`/proc/self/fd/${fd}`, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds the image a Dockerfile describes and names it. The one operation every front end calls
 * (the CLI's `berth build`, the Engine API's POST /build).
 */
export async function build(engine: EngineService, options: BuildOptions, progress: BuildProgress): Promise<BuildResult> {
  const context = typeof options.context === 'string' ? BuildContext.fromDirectory(options.context) : await BuildContext.fromStdin(options.context, join(engine.root, 'tmp'));
  try {
    const { text } = context.dockerfile(options.dockerfile);
    const dockerfile = parseDockerfile(text);
    const plan = planStages(dockerfile, options.target);
    const builder = new Builder(engine, options, progress, context, dockerfile.escape, plan.steps + Object.keys(options.labels ?? {}).length);
    const globalArgs = builder.declareGlobalArgs(plan.globalArgs);
    let last: Stage | undefined;
    try {
      for (const stage of plan.stages) last = await builder.buildStage(stage, globalArgs);
      await builder.labels(last!);
    } catch (err) {
      // Whatever failed once the build was cancelled (a pull cut short, a RUN killed) failed for that.
      if (options.signal?.aborted && !(err instanceof BuildCancelledError)) throw cancelled(options.signal);
      throw err;
    }
    const unused = builder.unusedArgs();
    if (unused.length) progress.stream(`[Warning] One or more build-args [${unused.join(' ')}] were not consumed\n`);
    // The result: no longer a cache-only image, with its names.
    const record = engine.images.resolve(last!.imageId);
    if ((await engine.images.manifest(record)).layers.length === 0) throw new BuildError('the image has no layer (FROM scratch with no COPY, ADD or RUN): an OCI image needs one at least');
    engine.images.putImage({ manifest: record.manifest, names: options.tags ?? [] });
    progress.built?.(record.id);
    progress.stream(`Successfully built ${shortId(record.id)}\n`);
    for (const tag of options.tags ?? []) progress.stream(`Successfully tagged ${familiarName(parseReference(tag))}\n`);
    return { id: record.id, tags: options.tags ?? [], ...builder.counts };
  } finally {
    context.close();
  }
}
