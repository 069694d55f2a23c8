// A foreground container with a terminal: its pty master, received over a socketpair, joined to
// our own stdin/stdout (raw mode when we are on a terminal), with window sizes passed on.
import { ReadStream, WriteStream } from 'node:tty';
import { native } from '../kernel/native.js';

export interface ConsoleProxy {
  /** Resolves once the container's side of the pty is closed and its output is written. */
  done: Promise<void>;
  stop(): void;
}

/** `onOutput` sees what the container writes to its terminal, too (the engine keeps it as the log). */
export function proxyConsole(master: number, onOutput?: (chunk: Buffer) => void): ConsoleProxy {
  const fromContainer = new ReadStream(master);
  const toContainer = new WriteStream(master);
  const stdin = process.stdin;
  const wasRaw = stdin.isTTY ? stdin.isRaw : false;
  setRawTerminal(true);
  const resize = () => {
    if (process.stdout.isTTY) native.setWinsize(master, process.stdout.rows, process.stdout.columns);
  };
  resize();
  process.stdout.on('resize', resize);
  stdin.pipe(toContainer);
  const done = new Promise<void>((resolve) => {
    fromContainer.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      onOutput?.(chunk);
    });
    // A pty master reads EIO once every slave fd is closed: that is its end of file.
    fromContainer.on('error', () => resolve());
    fromContainer.on('end', () => resolve());
  });
  return {
    done,
    stop() {
      process.stdout.off('resize', resize);
      stdin.unpipe(toContainer);
      stdin.pause();
      setRawTerminal(wasRaw);
      fromContainer.destroy();
      toContainer.destroy();
    },
  };
}

/**
 * Our terminal in raw mode as docker sets it (cfmakeraw), or back: Node's raw mode, and no output
 * processing, since the container's own pty already turned its "\n" into "\r\n". Leaving raw
 * mode restores the terminal's settings from before (libuv kept them), OPOST included.
 */
export function setRawTerminal(raw: boolean): void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return;
  stdin.setRawMode(raw);
  if (raw) native.setOutputProcessing(stdin.fd, false);
}
