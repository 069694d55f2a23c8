// Chapter 5: overlayfs. The container's "/" is an overlay: the image's layers as read-only lower
// dirs, and an upper dir of its own that takes every change. A deletion becomes a whiteout in the
// upper dir; a directory removed and made again becomes opaque; the layers never change.
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { imageLayers } from '../../image/index.js';
import { ensureLayers } from '../../engine/layers.js';
import { ROOTFS_OVERLAY_ANNOTATION, rootfsOverlayOf } from '../../runtime/rootfs-mount.js';
import { getXattr, isWhiteout, OPAQUE_XATTR } from '../../storage/index.js';
import { finding, note } from '../narrator.js';
import { didRun, exitText, matching, type Chapter } from '../chapter.js';
import { shortId, type RunRequest } from '../session.js';
import { lsLine } from '../listing.js';

/** A file of the image to delete, and a directory with entries to remove and make again: the first of each the image has. */
const DELETED_CANDIDATES = ['/etc/group', '/etc/passwd'];
const REMADE_CANDIDATES = ['/usr/sbin', '/sbin', '/usr/bin'];

export const overlayfsChapter: Chapter = {
  name: 'overlayfs',
  title: 'overlayfs',
  about: [
    'Many containers share one image without copying it: each one\'s "/" is an overlay of the',
    'image\'s layers (read-only, "lower") under a directory of its own ("upper") that takes its changes.',
  ],
  unavailable: () => (/\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8')) ? null : 'this kernel has no overlay filesystem (no "overlay" in /proc/filesystems)'),
  async run({ session, narrator }) {
    const { engine } = session;
    // The image's layers, unpacked as the engine does for a container (at most once), top first.
    const layers = (await ensureLayers(engine.images, engine.root, await imageLayers(engine.images, session.image))).reverse();
    const inImage = (path: string) => layers.find((l) => existsSync(join(l, path)));
    const deleted = DELETED_CANDIDATES.find(inImage);
    const remade = REMADE_CANDIDATES.find((d) => {
      const layer = inImage(d);
      return layer !== undefined && readdirSync(join(layer, d)).length > 0;
    });
    if (!deleted || !remade) throw new Error(`the image has none of ${DELETED_CANDIDATES.join(', ')} or none of ${REMADE_CANDIDATES.join(', ')} with entries`);

    const script = `grep ' / / ' /proc/self/mountinfo; rm ${deleted}; rm -r ${remade} && mkdir ${remade} && echo new > ${remade}/only-me && ls ${remade}`;
    const req: RunRequest = { command: ['sh', '-c', script], rm: false };
    const record = await session.create(req);
    try {
      const mine = rootfsOverlayOf(engine.bundleSpec(record));
      if (!mine) throw new Error('the container\'s config.json names no overlay rootfs');
      const upper = mine.upper;
      const lower = inImage(deleted) as string;
      const remadeLower = inImage(remade) as string;
      await narrator.step([session.runCommand(req)], async () => {
        const run = await session.start(record, req);
        return {
          did: [
            ...didRun(run, matching(/^mount -t overlay/)),
            `its overlay, from config.json's ${ROOTFS_OVERLAY_ANNOTATION} annotation (rootfsOverlayOf):`,
            ...mine.lower.map((l, i) => `  lower ${i + 1}: ${resolve(mine.dir, l)}${i === 0 ? '   (the engine\'s init layer: mount points for /etc/hosts...)' : '   (a layer of the image)'}`),
            `  upper:   ${upper}`,
            `  work:    ${mine.work}`,
          ],
          output: run.output,
          shows: [
            finding(/ - overlay overlay .*lowerdir=.*upperdir=.*workdir=/.test(run.output), 'Its "/" is an overlay: lowerdir= the image\'s layers, read-only and shared by every container of the image; upperdir= its own; workdir= where overlayfs prepares copy-ups and whiteouts before moving them in, atomically.', 'the container\'s / is not an overlay with lowerdir, upperdir and workdir'),
            finding(run.exitCode === 0, `It deleted ${deleted}, and removed ${remade} and made it again with one file.`, `the script failed: ${exitText(run.exitCode)}`),
          ],
        };
      });

      const upperFile = join(upper, deleted);
      const lowerFile = join(lower, deleted);
      await narrator.step([`ls -l ${upperFile} ${lowerFile}    # on the host`], async () => {
        const whiteout = lstatSync(upperFile, { throwIfNoEntry: false });
        const original = lstatSync(lowerFile, { throwIfNoEntry: false });
        return {
          did: ['lstat of both paths (isWhiteout, as berth diff and commit read an upper dir)'],
          output: [whiteout ? lsLine(upperFile, whiteout) : `ls: ${upperFile}: No such file`, original ? lsLine(lowerFile, original) : `ls: ${lowerFile}: No such file`].join('\n'),
          shows: [
            finding(whiteout !== undefined && isWhiteout(whiteout), `In the upper dir, the deleted ${deleted} is a character device 0, 0: a whiteout, overlayfs's mark for "deleted here, whatever the layers below hold".`, `no whiteout (character device 0, 0) at ${upperFile}`),
            finding(original?.isFile() === true, 'The image\'s layer still has the file: layers are never written, so every other container of the image still sees it.', `the layer's ${deleted} is gone`),
          ],
        };
      });

      const upperDir = join(upper, remade);
      await narrator.step([`getfattr -n ${OPAQUE_XATTR} ${upperDir}; ls -A ${upperDir}; ls -A ${join(remadeLower, remade)} | wc -l    # on the host`], async () => {
        const opaque = getXattr(upperDir, OPAQUE_XATTR)?.toString();
        const entries = existsSync(upperDir) ? readdirSync(upperDir) : [];
        const below = readdirSync(join(remadeLower, remade)).length;
        return {
          did: [`getXattr(${OPAQUE_XATTR}), readdir of both dirs`],
          output: `${opaque === undefined ? `${upperDir}: ${OPAQUE_XATTR}: No such attribute` : `${OPAQUE_XATTR}="${opaque}"`}\n${entries.join('\n')}\n${below}\n`,
          shows: [
            finding(opaque === 'y' && entries.join() === 'only-me', `The ${remade} made again is opaque (${OPAQUE_XATTR}=y): the ${below} entries of the layer's ${remade} no longer show through it, only the one file put there.`, `${upperDir} is not an opaque dir holding only only-me (xattr ${opaque}, entries ${entries.join(' ')})`),
          ],
        };
      });

      await narrator.step([`berth diff ${shortId(record)}`], async () => {
        const changes = engine.diff(record.id);
        const lines = changes.map((c) => `${c.kind} ${c.path}`);
        return {
          did: ['Engine.diff: a walk of the upper dir against the layers (diffUpper)'],
          output: `${lines.join('\n')}\n`,
          shows: [
            finding(lines.includes(`D ${deleted}`), 'berth diff and berth commit read exactly this upper dir: a whiteout is a deletion (".wh." + its name in a layer tar), an opaque dir hides what is below.', `berth diff does not list D ${deleted}`),
            note('A commit would make the upper dir one more layer on the image; removing the container removes it (Engine.remove).'),
          ],
        };
      });
    } finally {
      await session.remove(record);
    }
  },
};
