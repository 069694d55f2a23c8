// `berth build`: an image from a Dockerfile and a context (a directory, or a tar on stdin for
// `-`), with docker's flags and its classic builder's output; the work is src/build/'s.
import { writeFileSync } from 'node:fs';
import { build, BuildCancelledError, RunFailedError } from '../build/index.js';
import { bool, list, str, UsageError } from './args.js';
import type { CommandSpec } from './command.js';

/** `K=V` flags → a record; a bare `K` takes the value of the variable K of berth's environment (docker's rule), or is left out. */
function keyValues(values: string[], flag: string, fromEnv: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq === 0) throw new UsageError(`--${flag} ${v}: the name is missing`);
    if (eq < 0) {
      if (!fromEnv) throw new UsageError(`--${flag} ${v}: use KEY=VALUE`);
      const env = process.env[v];
      if (env !== undefined) out[v] = env;
      continue;
    }
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

export const buildCommands: CommandSpec[] = [
  {
    name: 'build',
    aliases: ['image build', 'builder build'],
    section: 'images',
    summary: 'Build an image from a Dockerfile',
    usage: '[OPTIONS] PATH | -',
    flags: [
      { name: 'tag', short: 't', repeatable: true, value: 'NAME[:TAG]', help: 'Name and optionally a tag in the "name:tag" format' },
      { name: 'file', short: 'f', value: 'FILE', help: "Name of the Dockerfile (default: 'PATH/Dockerfile')" },
      { name: 'build-arg', repeatable: true, value: 'KEY=VALUE', help: 'Set build-time variables' },
      { name: 'target', value: 'STAGE', help: 'Set the target build stage to build' },
      { name: 'no-cache', boolean: true, help: 'Do not use cache when building the image' },
      { name: 'pull', boolean: true, help: 'Always attempt to pull a newer version of the image' },
      { name: 'label', repeatable: true, value: 'KEY=VALUE', help: 'Set metadata for an image' },
      { name: 'network', value: 'MODE', help: 'Set the networking mode for the RUN instructions during build (default "default")' },
      { name: 'quiet', short: 'q', boolean: true, help: 'Suppress the build output and print image ID on success' },
      { name: 'iidfile', value: 'FILE', help: 'Write the image ID to the file' },
      { name: 'explain', boolean: true, help: "Print each RUN's container plan (cgroup writes, mounts, syscalls) as shell lines" },
    ],
    async run({ engine }, p) {
      if (p.positionals.length !== 1) throw new UsageError('build: berth build [OPTIONS] PATH | -');
      const path = p.positionals[0]!;
      const quiet = bool(p, 'quiet');
      // SIGINT and SIGTERM end the build with its cleanup done (a running RUN killed, its
      // container, cgroup and mounts removed), then berth exits as the signal would have (128+N).
      const controller = new AbortController();
      const handlers = (['SIGINT', 'SIGTERM'] as const).map((name) => {
        const handler = () => controller.abort(name);
        process.on(name, handler);
        return () => process.off(name, handler);
      });
      const run = () => build(
        engine,
        {
          context: path === '-' ? process.stdin : path,
          ...(str(p, 'file') !== undefined ? { dockerfile: str(p, 'file') } : {}),
          tags: list(p, 'tag'),
          buildArgs: keyValues(list(p, 'build-arg'), 'build-arg', true),
          ...(str(p, 'target') !== undefined ? { target: str(p, 'target') } : {}),
          noCache: bool(p, 'no-cache'),
          pull: bool(p, 'pull'),
          labels: keyValues(list(p, 'label'), 'label', false),
          ...(str(p, 'network') !== undefined ? { network: str(p, 'network') } : {}),
          ...(bool(p, 'explain') ? { explain: (lines: string[]) => process.stderr.write(lines.join('\n') + '\n') } : {}),
          signal: controller.signal,
        },
        { stream: (text) => (quiet ? undefined : process.stdout.write(text)) },
      );
      let result;
      try {
        result = await run();
      } catch (err) {
        if (err instanceof BuildCancelledError) {
          process.stderr.write(`berth: ${err.message}\n`);
          return 128 + (controller.signal.reason === 'SIGINT' ? 2 : 15);
        }
        // docker exits with the failed RUN's own status
        if (!(err instanceof RunFailedError)) throw err;
        process.stderr.write(`berth: ${err.message}\n`);
        return err.exitCode;
      } finally {
        for (const off of handlers) off();
      }
      const iidfile = str(p, 'iidfile');
      if (iidfile !== undefined) writeFileSync(iidfile, result.id);
      if (quiet) process.stdout.write(`${result.id}\n`);
      return 0;
    },
  },
];
