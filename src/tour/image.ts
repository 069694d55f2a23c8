// The image the tour runs: a busybox image already in the store, or, when there is none, Debian's
// static busybox imported as `busybox:tour` — the seed's first step, as scripts/busybox-bundle.sh
// and the README's first command make it: a rootfs tar (busybox, one link per applet, passwd and
// group), imported as a one-layer image.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { familiarName, familiarRepository, importRootfs, parseReference } from '../image/index.js';
import type { ImageStore } from '../image/store.js';
import { TarWriter, type TarEntryInput } from '../tar/index.js';

/** Debian's busybox-static. */
export const HOST_BUSYBOX = '/bin/busybox';
export const TOUR_IMAGE = 'busybox:tour';

/** The busybox image of the store the tour uses (its own first), or null when there is none. */
export function findBusyboxImage(store: ImageStore): string | null {
  const names = store.listImages().flatMap((image) => image.names);
  const familiar = names.map((n) => familiarName(n));
  if (familiar.includes(TOUR_IMAGE)) return TOUR_IMAGE;
  const busybox = names.find((n) => familiarRepository(parseReference(n)) === 'busybox');
  return busybox === undefined ? null : familiarName(busybox);
}

/** What the import amounts to, as a person would type it (scripts/busybox-bundle.sh makes the rootfs). */
export const IMPORT_COMMAND = `scripts/busybox-bundle.sh /tmp/busybox && tar -C /tmp/busybox/rootfs -c . | berth import - ${TOUR_IMAGE}`;

/** Imports Debian's busybox-static as TOUR_IMAGE; returns its id. */
export async function importBusybox(store: ImageStore): Promise<string> {
  if (!existsSync(HOST_BUSYBOX)) throw new Error(`no busybox image in the store, and ${HOST_BUSYBOX} is missing to make one (apt-get install busybox-static)`);
  const applets = execFileSync(HOST_BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const stream = new PassThrough();
  const writing = writeRootfs(new TarWriter(stream), readFileSync(HOST_BUSYBOX), applets);
  // The tar is read as it is written; a failure of either side ends both.
  writing.catch((err: Error) => stream.destroy(err));
  const record = await importRootfs(store, stream, { ref: TOUR_IMAGE, source: HOST_BUSYBOX });
  await writing;
  return record.id;
}

/** The layout of scripts/busybox-bundle.sh's rootfs. */
async function writeRootfs(tar: TarWriter, busybox: Buffer, applets: string[]): Promise<void> {
  const mtime = Math.floor(Date.now() / 1000);
  const add = (entry: TarEntryInput, body?: Buffer | string) => tar.add({ mtime, uid: 0, gid: 0, ...entry }, body);
  const dirs = ['bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'root', 'var', 'home'];
  for (const name of dirs) await add({ name, type: 'dir', mode: name === 'root' ? 0o700 : 0o755 });
  for (const name of ['tmp', 'var/tmp']) await add({ name, type: 'dir', mode: 0o1777 });
  await add({ name: 'bin/busybox', type: 'file', mode: 0o755 }, busybox);
  for (const applet of applets) {
    if (applet !== 'bin/busybox') await add({ name: applet, type: 'symlink', linkname: '/bin/busybox', mode: 0o777 });
  }
  await add({ name: 'etc/passwd', type: 'file', mode: 0o644 }, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await add({ name: 'etc/group', type: 'file', mode: 0o644 }, 'root:x:0:\nnogroup:x:65534:\n');
  await tar.finish();
}
