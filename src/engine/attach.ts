// Attaching to a container under conmon: its attach socket (SOCK_SEQPACKET, at
// /run/berth/socket/<id>/attach) carries the container's output to us, each message led by one
// byte naming its stream (2 stdout, 3 stderr), and carries what we write to its stdin. Window
// sizes go to conmon's control FIFO in the bundle ("1 ROWS COLS\n"). The detach keys (ctrl-p
// ctrl-q, as docker's) leave the container running.
import { recordContainerEvent, type ContainerActor } from './events.js';
import { openSync, closeSync, read, writeSync, constants as fsConstants } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { native } from '../kernel/native.js';
import { SOCKET_DIR } from './monitor.js';
import { setRawTerminal } from '../runtime/console.js';
import { BerthError } from '../errors.js';

const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
/** conmon reads at most this much of one message. */
const CONN_SOCK_BUF_SIZE = 32768;
/** ctrl-p ctrl-q */
export const DEFAULT_DETACH_KEYS = Buffer.from([0x10, 0x11]);

export class AttachError extends BerthError {
  override readonly name = 'AttachError';
}

export interface AttachOptions {
  id: string;
  bundle: string;
  /** Forward our stdin to the container's. */
  stdin: boolean;
  /** The container has a terminal: our stdin goes raw, our window size goes to it. */
  tty: boolean;
  detachKeys?: Buffer;
  /** Streams other than this process's stdio (the Engine API's connection); absent: ours, a terminal made raw. */
  io?: AttachIO;
  /** docker's attach event, recorded in this root's log once connected. */
  event?: { root: string; container: ContainerActor };
}

export interface AttachIO {
  /** What goes to the container's stdin; its end is the container's end of file. */
  input?: Readable;
  output(stream: 'stdout' | 'stderr', data: Buffer): void;
}

/** A new window size for the container's terminal, through its monitor's control FIFO. */
export function resizeTerminal(bundle: string, rows: number, cols: number): void {
  try {
    const ctl = openSync(join(bundle, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    try {
      writeSync(ctl, `1 ${rows} ${cols}\n`);
    } finally {
      closeSync(ctl);
    }
  } catch {
    // the monitor is gone: nothing to resize
  }
}

export interface Attachment {
  /** 'exited' when the container's output ended, 'detached' on the detach keys. */
  done: Promise<'exited' | 'detached'>;
  /** Stop forwarding stdin and restore the terminal. */
  close(): void;
}

/** Connects to the container's attach socket. Call before the container starts to miss nothing. */
export function attach(opts: AttachOptions): Attachment {
  let fd: number;
  try {
    fd = native.unixConnect(join(SOCKET_DIR, opts.id, 'attach'), true);
  } catch (err) {
    throw new AttachError(`cannot attach to container ${opts.id.slice(0, 12)}: its monitor's attach socket: ${(err as Error).message}`);
  }
  if (opts.event) recordContainerEvent(opts.event.root, opts.event.container, 'attach');
  const own = opts.io === undefined;
  const stdin = opts.io ? opts.io.input : process.stdin;
  const wasRaw = own && process.stdin.isTTY ? process.stdin.isRaw : false;
  const output = opts.io?.output ?? ((stream, data) => (stream === 'stderr' ? process.stderr : process.stdout).write(data));
  let closed = false;
  let outputEnded = false;
  let settle: (how: 'exited' | 'detached') => void = () => {};
  const done = new Promise<'exited' | 'detached'>((resolve) => (settle = resolve));

  const resize = () => {
    if (opts.tty && process.stdout.isTTY) resizeTerminal(opts.bundle, process.stdout.rows, process.stdout.columns);
  };

  // Output: one message per read, on the thread pool (a seqpacket socket is not a stream libuv knows).
  const buf = Buffer.alloc(CONN_SOCK_BUF_SIZE + 1);
  const readNext = () => {
    read(fd, buf, 0, buf.length, null, (err, n) => {
      if (closed) {
        closeSync(fd); // the read close() woke by shutting the socket down
        return;
      }
      if (err || n === 0) {
        outputEnded = true;
        settle('exited');
        return;
      }
      const data = buf.subarray(1, n);
      if (buf[0] === STDERR_PIPE) output('stderr', Buffer.from(data));
      else if (buf[0] === STDOUT_PIPE) output('stdout', Buffer.from(data));
      readNext();
    });
  };
  readNext();

  // Input, watching for the detach keys across chunks.
  const keys = opts.detachKeys ?? DEFAULT_DETACH_KEYS;
  let matched = 0;
  const onInput = (chunk: Buffer) => {
    const out: number[] = [];
    for (const byte of chunk) {
      if (opts.tty && byte === keys[matched]) {
        matched += 1;
        if (matched === keys.length) {
          send(Buffer.from(out));
          settle('detached');
          return;
        }
        continue;
      }
      if (matched) out.push(...keys.subarray(0, matched));
      matched = 0;
      out.push(byte);
    }
    send(Buffer.from(out));
  };
  const send = (data: Buffer) => {
    for (let at = 0; at < data.length; at += CONN_SOCK_BUF_SIZE) {
      try {
        writeSync(fd, data.subarray(at, at + CONN_SOCK_BUF_SIZE));
      } catch {
        return; // the container is gone; its end of output will say so
      }
    }
  };
  const onEnd = () => {
    try {
      native.shutdown(fd, 1); // the container reads end-of-file on its stdin
    } catch {
      // already closed
    }
  };
  if (opts.stdin && stdin) {
    if (own && opts.tty) setRawTerminal(true);
    stdin.on('data', onInput);
    stdin.on('end', onEnd);
    stdin.resume();
  }
  if (own && opts.tty) {
    resize();
    process.stdout.on('resize', resize);
  }

  return {
    done,
    close() {
      if (closed) return;
      closed = true;
      process.stdout.off('resize', resize);
      if (opts.stdin && stdin) {
        stdin.off('data', onInput);
        stdin.off('end', onEnd);
        stdin.pause();
        if (own && opts.tty) setRawTerminal(wasRaw);
      }
      // A read still pending on the thread pool (a detach) would keep Node from exiting: shutting
      // the socket down ends it, and the container keeps running (conmon only loses a client).
      if (outputEnded) {
        closeSync(fd);
        return;
      }
      try {
        native.shutdown(fd, 2);
      } catch {
        // already gone
      }
    },
  };
}
