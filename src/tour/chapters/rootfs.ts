// Chapter 1: a container's root filesystem is nothing but files: the image's layers, each a tar,
// stacked. Taken out of a container, it is one tar again.
import { createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { imageLayers } from '../../image/index.js';
import { layerDirsOf } from '../../engine/layers.js';
import { indexTar } from '../../tar/index.js';
import { finding, note } from '../narrator.js';
import { shortId } from '../session.js';
import type { Chapter } from '../chapter.js';
import { tarLine } from '../listing.js';

/** Entries of the listing shown; the rest are counted. */
const LISTED = 15;

export const rootfsChapter: Chapter = {
  name: 'rootfs',
  title: 'a rootfs is a tar of an image',
  about: [
    "An image is a list of layers, and each layer is a tar of files. A container's root filesystem",
    'is those files stacked: nothing more. Taken out of a container, it is one tar again.',
  ],
  async run({ session, narrator }) {
    const { engine } = session;
    const image = await imageLayers(engine.images, session.image);
    const record = await session.create({ command: ['sh'], rm: false });
    try {
      await narrator.step([session.runCommand({ command: ['sh'] }, 'create')], async () => {
        const dirs = layerDirsOf(engine.root, record.layers);
        return {
          did: [
            `imageLayers: image ${image.record.id.slice(7, 19)}, ${image.layers.length} layer(s), each a tar in the content store:`,
            ...image.layers.map((l, i) => `  ${l.descriptor.digest} (${l.descriptor.size} bytes, ${l.compression === 'none' ? 'plain tar' : l.compression}), unpacked once into ${dirs[i]}`),
            `Engine.create: container ${shortId(record)}: its own upper, work and rootfs dirs and its config.json, under ${engine.containers.containerDir(record.id)}`,
          ],
          output: `${record.id}\n`,
          shows: [
            note('Creating a container copies nothing and runs nothing: it stacks the image\'s unpacked layers under an empty dir of its own.'),
          ],
        };
      });

      const tarFile = join(session.scratch, 'rootfs.tar');
      await narrator.step([`berth export -o ${tarFile} ${shortId(record)}`, `tar -tvf ${tarFile} | head -${LISTED}; tar -tf ${tarFile} | wc -l`], async () => {
        // Not cut short by Ctrl-C: it unmounts its view when it ends, which is soon.
        await engine.exportContainer(record.id, createWriteStream(tarFile));
        const entries = await indexTar(tarFile);
        const names = new Set(entries.map((e) => e.name.replace(/\/$/, '')));
        const listing = entries.slice(0, LISTED).map((e) => tarLine(e.header));
        return {
          did: [
            `Engine.exportContainer: a read-only overlay of the container's upper dir over its layers, mounted for the moment under its dir, written as a tar by writeLayerFromUpper, unmounted`,
            `indexTar: the tar's headers, read by berth's own tar reader`,
          ],
          output: `${listing.join('\n')}\n${entries.length}\n`,
          shows: [
            finding(names.has('bin/busybox') && names.has('etc/passwd'), `The whole container is in this file: ${entries.length} entries, ${statSync(tarFile).size} bytes, /bin/busybox and its links, /etc/passwd...`, 'bin/busybox or etc/passwd is missing from the exported tar'),
            note('Unpacked into a directory and entered with chroot, this tar is the first container of the story; `berth import` makes an image of it again.'),
          ],
        };
      });
    } finally {
      await session.remove(record);
    }
  },
};
