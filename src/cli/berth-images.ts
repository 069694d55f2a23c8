// berth's image verbs: images, rmi, tag, image inspect/prune, history, load, save, import, system df.
import { familiarName, familiarRepository, imageConfig, imageHistory, importRootfs, loadArchive, parseReference, saveArchive, shortId, type ImageRecord } from '../image/index.js';
import { imagePruneOptions, imagesInUse, pruneImages, removeImage } from '../engine/images.js';
import { inspectImage } from '../engine/inspect.js';
import { applyChanges } from '../build/index.js';
import { bool, filterPairs, list, str, UsageError } from './args.js';
import type { CommandSpec } from './command.js';
import { eachOperand } from './operands.js';
import { ago, table } from './format.js';
import { humanSize } from '../units.js';
import { formatRows, renderTemplate } from './template.js';

function repoAndTag(name: string): [string, string] {
  const ref = parseReference(name);
  return [familiarRepository(ref), ref.tag ?? '<none>'];
}

export const imageCommands: CommandSpec[] = [
  {
    name: 'images',
    aliases: ['image ls'],
    section: 'images',
    summary: 'List images',
    usage: '[OPTIONS]',
    flags: [
      { name: 'quiet', short: 'q', boolean: true, help: 'Only show image IDs' },
      { name: 'all', short: 'a', boolean: true, help: 'Show all images (default hides intermediate images of the build cache)' },
      { name: 'no-trunc', boolean: true, help: "Don't truncate output" },
      { name: 'format', value: 'json|TEMPLATE', help: 'Format output: json, a Go template ({{.Repository}}:{{.Tag}}), or table TEMPLATE' },
    ],
    async run({ engine }, p) {
      const images = engine.images.listImages().filter((r) => bool(p, 'all') || !r.buildCache);
      const id = (r: ImageRecord) => (bool(p, 'no-trunc') ? r.id : shortId(r.id));
      if (bool(p, 'quiet')) {
        process.stdout.write([...new Set(images.map(id))].map((i) => i + '\n').join(''));
        return 0;
      }
      const usage = new Map(engine.images.diskUsage().images.map((u) => [u.id, u.size]));
      const rows: Record<string, string>[] = [];
      for (const r of images) {
        const created = (await imageConfig(engine.images, r)).created;
        const names = r.names.length ? r.names : [''];
        for (const name of names) {
          const [repo, tag] = name ? repoAndTag(name) : ['<none>', '<none>'];
          const size = humanSize(usage.get(r.id) ?? 0);
          rows.push({ Containers: 'N/A', CreatedAt: created ?? '', CreatedSince: ago(created), Digest: '<none>', ID: id(r), Repository: repo, SharedSize: 'N/A', Size: size, Tag: tag, UniqueSize: 'N/A', VirtualSize: size });
        }
      }
      const format = str(p, 'format');
      if (format) process.stdout.write(formatRows(format, rows, { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT' }));
      else process.stdout.write(table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'], ...rows.map((r) => [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size])]));
      return 0;
    },
  },

  {
    name: 'rmi',
    aliases: ['image rm'],
    section: 'images',
    summary: 'Remove one or more images',
    usage: '[OPTIONS] IMAGE [IMAGE...]',
    flags: [{ name: 'force', short: 'f', boolean: true, help: 'Remove the image even when other names point at it' }],
    async run({ engine }, p) {
      return eachOperand(p.positionals, { verb: 'rmi', noun: 'image', echo: false }, async (ref) => {
        const result = removeImage(engine.images, engine.containers, ref, bool(p, 'force'));
        for (const name of result.untagged) process.stdout.write(`Untagged: ${familiarName(parseReference(name))}\n`);
        for (const id of result.deleted) process.stdout.write(`Deleted: ${id}\n`);
      });
    },
  },

  {
    name: 'tag',
    aliases: ['image tag'],
    section: 'images',
    summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
    flags: [],
    async run({ engine }, p) {
      const [source, target, ...rest] = p.positionals;
      if (!source || !target || rest.length) throw new UsageError('tag: berth tag SOURCE_IMAGE TARGET_IMAGE[:TAG]');
      engine.images.tag(source, target);
      return 0;
    },
  },

  {
    name: 'image inspect',
    section: 'images',
    summary: 'Display detailed information on one or more images',
    usage: '[OPTIONS] IMAGE [IMAGE...]',
    flags: [{ name: 'format', short: 'f', value: 'TEMPLATE', help: 'Format output using a Go template' }],
    async run({ engine }, p) {
      if (p.positionals.length === 0) throw new UsageError('image inspect: at least one image is required');
      const out = [];
      for (const ref of p.positionals) out.push(await inspectImage(engine.images, ref));
      const format = str(p, 'format');
      process.stdout.write(format ? out.map((o) => renderTemplate(format, o) + '\n').join('') : JSON.stringify(out, null, 4) + '\n');
      return 0;
    },
  },

  {
    name: 'history',
    aliases: ['image history'],
    section: 'images',
    summary: 'Show the history of an image',
    usage: 'IMAGE',
    flags: [],
    async run({ engine }, p) {
      const [ref, ...rest] = p.positionals;
      if (!ref || rest.length) throw new UsageError('history: exactly one image is required');
      const rows = [['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT']];
      for (const h of await imageHistory(engine.images, ref)) {
        const createdBy = h.createdBy.length > 45 ? `${h.createdBy.slice(0, 44)}…` : h.createdBy;
        rows.push([h.id === '<missing>' ? h.id : shortId(h.id), ago(h.created), createdBy, humanSize(h.size), h.comment]);
      }
      process.stdout.write(table(rows));
      return 0;
    },
  },

  {
    name: 'image prune',
    section: 'images',
    summary: 'Remove unused images (untagged ones; all unused with -a)',
    usage: '[OPTIONS]',
    flags: [
      { name: 'all', short: 'a', boolean: true, help: 'Remove all unused images, not just dangling ones' },
      { name: 'force', short: 'f', boolean: true, help: 'Do not prompt for confirmation (berth does not prompt)' },
      { name: 'filter', value: 'KEY=VALUE', repeatable: true, help: 'Filter: until=TIME (created before), label=KEY[=VALUE], label!=KEY[=VALUE]' },
    ],
    async run({ engine }, p) {
      const result = await pruneImages(engine.images, engine.containers, imagePruneOptions(filterPairs(p), bool(p, 'all')));
      for (const id of result.deletedImages) process.stdout.write(`Deleted: ${id}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(result.reclaimedBytes)}\n`);
      return 0;
    },
  },

  {
    name: 'load',
    aliases: ['image load'],
    section: 'images',
    summary: 'Load an image from a tar archive (docker-archive or OCI layout) or STDIN',
    usage: '[OPTIONS]',
    flags: [
      { name: 'input', short: 'i', value: 'FILE', help: 'Read from tar archive file, instead of STDIN' },
      { name: 'quiet', short: 'q', boolean: true, help: 'Suppress the load output' },
    ],
    async run({ engine }, p) {
      const input = str(p, 'input');
      if (!input && process.stdin.isTTY) throw new UsageError('load: give -i FILE or pipe an archive to stdin');
      const result = await loadArchive(engine.images, input ?? process.stdin);
      for (const image of result.loaded) {
        const names = image.names.length ? image.names.map((n) => familiarName(parseReference(n))) : [image.id];
        for (const name of names) process.stdout.write(`Loaded image${image.names.length ? '' : ' ID'}: ${name}\n`);
      }
      return 0;
    },
  },

  {
    name: 'save',
    aliases: ['image save'],
    section: 'images',
    summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
    usage: '[OPTIONS] IMAGE [IMAGE...]',
    flags: [
      { name: 'output', short: 'o', value: 'FILE', help: 'Write to a file, instead of STDOUT' },
      { name: 'format', value: 'docker|oci', help: 'The archive: docker-archive (default) or an OCI layout' },
    ],
    async run({ engine }, p) {
      const format = str(p, 'format') ?? 'docker';
      if (format !== 'docker' && format !== 'oci') throw new UsageError(`save: --format ${format}: use docker or oci`);
      if (p.positionals.length === 0) throw new UsageError('save: at least one image is required');
      const out = str(p, 'output');
      if (!out && process.stdout.isTTY) throw new UsageError('save: refusing to write a tar to a terminal; use -o FILE or a redirect');
      await saveArchive(engine.images, p.positionals, out ?? process.stdout, format);
      return 0;
    },
  },

  {
    name: 'import',
    aliases: ['image import'],
    section: 'images',
    summary: 'Import the contents from a tarball to create a filesystem image',
    usage: '[OPTIONS] FILE|- [REPOSITORY[:TAG]]',
    flags: [
      { name: 'message', short: 'm', value: 'TEXT', help: 'Set commit message for imported image' },
      { name: 'change', short: 'c', repeatable: true, value: 'INSTRUCTION', help: 'Apply Dockerfile instruction to the created image (CMD, ENV, LABEL, ...)' },
    ],
    async run({ engine }, p) {
      const [file, ref, ...rest] = p.positionals;
      if (!file || rest.length) throw new UsageError('import: berth import FILE|- [REPOSITORY[:TAG]]');
      const changes = list(p, 'change');
      const config = changes.length ? applyChanges({}, changes) : undefined;
      const record = await importRootfs(engine.images, file === '-' ? process.stdin : file, { ref, message: str(p, 'message'), source: file, config });
      process.stdout.write(`${record.id}\n`);
      return 0;
    },
  },

  {
    name: 'system df',
    section: 'system',
    summary: 'Show berth disk usage',
    usage: '',
    flags: [],
    async run({ engine }) {
      const usage = engine.images.diskUsage();
      const containers = engine.containers.list();
      const used = imagesInUse(engine.containers);
      const active = usage.images.filter((i) => used.has(i.id)).length;
      const reclaimable = usage.images.filter((i) => !used.has(i.id)).reduce((n, i) => n + i.size - i.sharedSize, 0);
      const running = containers.filter((c) => c.state.status === 'running').length;
      process.stdout.write(
        table([
          ['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'],
          ['Images', String(usage.images.length), String(active), humanSize(usage.blobBytes), humanSize(reclaimable + usage.unreferencedBytes)],
          ['Containers', String(containers.length), String(running), '', ''],
        ]),
      );
      return 0;
    },
  },
];
