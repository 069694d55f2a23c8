// berth's volume verbs (volume create|ls|inspect|rm|prune) and cp, with docker's flags and output.
import { createInterface } from 'node:readline';
import { copyFromContainer, copyIntoContainer, splitCopyArg } from '../engine/copy.js';
import { bool, list, str, UsageError } from './args.js';
import type { CommandSpec } from './command.js';
import { eachOperand } from './operands.js';
import { table } from './format.js';
import { humanSize } from '../units.js';
import { formatRows, renderTemplate } from './template.js';

function labels(specs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of specs) {
    const eq = s.indexOf('=');
    const key = eq < 0 ? s : s.slice(0, eq);
    if (key === '') throw new UsageError(`--label ${JSON.stringify(s)}: the key is empty`);
    out[key] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

/** docker's y/N question, on stdin; anything but y/yes is no. */
async function confirm(question: string): Promise<boolean> {
  process.stdout.write(`${question} [y/N] `);
  const rl = createInterface({ input: process.stdin });
  try {
    const line: string = await new Promise((resolve) => {
      rl.once('line', resolve);
      rl.once('close', () => resolve(''));
    });
    return /^y(es)?$/i.test(line.trim());
  } finally {
    rl.close();
  }
}

export const volumeCommands: CommandSpec[] = [
  {
    name: 'volume create',
    section: 'volumes',
    summary: 'Create a volume',
    usage: '[OPTIONS] [VOLUME]',
    flags: [
      { name: 'label', repeatable: true, value: 'KEY=VALUE', help: 'Set metadata for a volume' },
      { name: 'driver', short: 'd', value: 'local', help: 'Volume driver name (only "local")' },
    ],
    async run({ engine }, p) {
      const driver = p.flags.driver;
      if (driver !== undefined && driver !== 'local') throw new UsageError(`volume create: driver ${JSON.stringify(driver)}: only "local" exists`);
      if (p.positionals.length > 1) throw new UsageError('volume create: at most one name (berth volume create [OPTIONS] [VOLUME])');
      const { volume } = engine.volumes.create(p.positionals[0], labels(list(p, 'label')));
      process.stdout.write(`${volume.Name}\n`);
      return 0;
    },
  },

  {
    name: 'volume ls',
    section: 'volumes',
    summary: 'List volumes',
    usage: '[OPTIONS]',
    flags: [
      { name: 'quiet', short: 'q', boolean: true, help: 'Only display volume names' },
      { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, a Go template ({{.Name}}), or table TEMPLATE' },
    ],
    async run({ engine }, p) {
      if (p.positionals.length) throw new UsageError('volume ls: no arguments expected');
      const volumes = engine.volumes.list();
      const format = str(p, 'format');
      if (bool(p, 'quiet')) process.stdout.write(volumes.map((v) => `${v.Name}\n`).join(''));
      else if (format) process.stdout.write(formatRows(format, volumes, { Name: 'VOLUME NAME' }));
      else process.stdout.write(table([['DRIVER', 'VOLUME NAME'], ...volumes.map((v) => [v.Driver, v.Name])]));
      return 0;
    },
  },

  {
    name: 'volume inspect',
    section: 'volumes',
    summary: 'Display detailed information on one or more volumes',
    usage: '[OPTIONS] VOLUME [VOLUME...]',
    flags: [{ name: 'format', short: 'f', value: 'TEMPLATE', help: 'Format output using a Go template' }],
    async run({ engine }, p) {
      if (p.positionals.length === 0) throw new UsageError('volume inspect: at least one volume is required');
      const volumes = p.positionals.map((name) => engine.volumes.get(name));
      const format = str(p, 'format');
      process.stdout.write(format ? volumes.map((v) => renderTemplate(format, v) + '\n').join('') : JSON.stringify(volumes, null, 4) + '\n');
      return 0;
    },
  },

  {
    name: 'volume rm',
    section: 'volumes',
    summary: 'Remove one or more volumes',
    usage: '[OPTIONS] VOLUME [VOLUME...]',
    flags: [{ name: 'force', short: 'f', boolean: true, help: 'A volume that does not exist is no error' }],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'volume rm', noun: 'volume' }, async (name) => {
        // -f, as docker's: a missing volume is no error; one in use still is.
        if (bool(p, 'force') && !engine.volumes.find(name)) return 'skip';
        engine.volumes.remove(name, engine.containers.list());
      });
    },
  },

  {
    name: 'volume prune',
    section: 'volumes',
    summary: 'Remove unused local volumes (anonymous ones; all with -a)',
    usage: '[OPTIONS]',
    flags: [
      { name: 'force', short: 'f', boolean: true, help: 'Do not prompt for confirmation' },
      { name: 'all', short: 'a', boolean: true, help: 'Remove all unused volumes, not just anonymous ones' },
    ],
    async run({ engine }, p) {
      const all = bool(p, 'all');
      if (!bool(p, 'force')) {
        const what = all ? 'all local volumes' : 'anonymous local volumes';
        if (!(await confirm(`WARNING! This will remove ${what} not used by at least one container.\nAre you sure you want to continue?`))) return 0;
      }
      const { removed, reclaimed } = engine.volumes.prune(engine.containers.list(), all);
      if (removed.length) process.stdout.write(`Deleted Volumes:\n${removed.join('\n')}\n\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(reclaimed)}\n`);
      return 0;
    },
  },

  {
    name: 'cp',
    aliases: ['container cp'],
    section: 'containers',
    summary: 'Copy files/folders between a container and the local filesystem',
    usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH',
    flags: [
      { name: 'archive', short: 'a', boolean: true, help: 'Archive mode (copy all uid/gid information)' },
      { name: 'follow-link', short: 'L', boolean: true, help: 'Always follow symbol link in SRC_PATH' },
    ],
    async run({ engine }, p) {
      const [src, dest, ...rest] = p.positionals;
      if (!src || !dest || rest.length) throw new UsageError('cp: berth cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-  or  SRC_PATH|- CONTAINER:DEST_PATH');
      const from = splitCopyArg(src);
      const to = splitCopyArg(dest);
      if (from && to) throw new UsageError('cp: copying between containers is not supported');
      if (!from && !to) throw new UsageError('cp: must specify at least one container source (CONTAINER:PATH)');
      const opts = { archive: bool(p, 'archive'), followLink: bool(p, 'follow-link') };
      if (from) {
        if (from.path === '') throw new UsageError(`cp: ${src}: the path in the container is empty`);
        if (dest === '-' && process.stdout.isTTY) throw new UsageError('cp: refusing to write a tar to a terminal; redirect it');
        await engine.withContainerRoot(from.container, (root) => copyFromContainer(root, from.path, dest, opts, process.stdout));
      } else if (to) {
        if (to.path === '') throw new UsageError(`cp: ${dest}: the path in the container is empty`);
        await engine.withContainerRoot(to.container, (root) => copyIntoContainer(root, src, to.path, opts, process.stdin));
      }
      return 0;
    },
  },
];
