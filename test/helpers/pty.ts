// Reading a container's terminal from its pty master, as a console-socket holder does.
import { readSync } from 'node:fs';

/** Everything the container writes to its terminal, until its side is closed (EIO on the master). */
export function readUntilHangup(master: number): Buffer {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(4096);
  for (;;) {
    let n: number;
    try {
      n = readSync(master, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EIO') break; // every slave fd is closed
      throw err;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks);
}
