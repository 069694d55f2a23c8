// exec through the API: an instance made by `POST /containers/{id}/exec` (kept in the service's
// memory, as dockerd keeps it), run by `POST /exec/{id}/start` on the hijacked connection through
// the engine's exec (the same operation as `berth exec`), inspected for its exit code, resized.
import { randomBytes } from 'node:crypto';
import { closeSync } from 'node:fs';
import { ReadStream, WriteStream } from 'node:tty';
import { Socket } from 'node:net';
import { recordExecCreate } from '../engine/exec.js';
import { native } from '../kernel/native.js';
import { ApiError, bodyString, bodyStrings, intParam, readJson, sendEmpty, sendJson, type ApiRequest } from './http.js';
import type { Route } from './router.js';
import type { ExecInstance } from './state.js';
import { hijack, type ClientStream } from './stream.js';

async function create(r: ApiRequest): Promise<void> {
  const record = await r.service.engine.inspect(r.params[0]);
  if (record.state.status !== 'running') throw new ApiError('conflict', `Container ${record.id} is not running`);
  const body = await readJson(r);
  if (body.Privileged === true) throw new ApiError('invalid-argument', 'Privileged: berth does not support it');
  const command = bodyStrings('Cmd', body.Cmd);
  if (command.length === 0) throw new ApiError('invalid-argument', 'No exec command specified');
  const exec: ExecInstance = {
    id: randomBytes(32).toString('hex'),
    containerId: record.id,
    command,
    env: bodyStrings('Env', body.Env),
    user: bodyString('User', body.User),
    workdir: bodyString('WorkingDir', body.WorkingDir),
    tty: body.Tty === true,
    attachStdin: body.AttachStdin === true,
    attachStdout: body.AttachStdout !== false,
    attachStderr: body.AttachStderr !== false,
    running: false,
    pid: 0,
    exitCode: null,
  };
  r.state.execs.set(exec.id, exec);
  recordExecCreate(r.service.engine.root, record, exec.id, command);
  sendJson(r, 201, { Id: exec.id });
}

function instance(r: ApiRequest): ExecInstance {
  const exec = r.state.execs.get(r.params[0]);
  if (!exec) throw new ApiError('not-found', `No such exec instance: ${r.params[0]}`);
  return exec;
}

/** The process's output to the client, and the client's input to it: pipes, or its terminal. */
function wire(exec: ExecInstance, client: ClientStream) {
  const drained: Promise<void>[] = [];
  const pipeOut = (fd: number, stream: 'stdout' | 'stderr', wanted: boolean) => {
    const from = new Socket({ fd, readable: true, writable: false });
    from.on('data', (chunk: Buffer) => wanted && client.write(stream, chunk));
    from.on('error', () => from.destroy());
    drained.push(new Promise((resolve) => from.once('close', () => resolve())));
  };
  const feed = (to: NodeJS.WritableStream & { destroy(): void }) => {
    if (!exec.attachStdin || !client.input) return;
    client.input.on('data', (d: Buffer) => to.write(d));
    client.input.on('end', () => to.end());
    void client.closed.then(() => to.destroy());
  };
  if (exec.tty) {
    return {
      stdio: [0, 1, 2] as [number, number, number],
      console: (master: number) => {
        exec.console = master;
        const from = new ReadStream(master);
        const to = new WriteStream(master);
        from.on('data', (chunk: Buffer | string) => client.write('stdout', Buffer.from(chunk)));
        feed(to);
        const done = new Promise<void>((resolve) => {
          // A pty master reads EIO once every slave fd is closed: that is its end of file.
          from.on('error', () => resolve());
          from.on('end', () => resolve());
        });
        return {
          done,
          stop() {
            exec.console = undefined;
            from.destroy();
            to.destroy();
          },
        };
      },
      afterStart: () => undefined,
      drained: async () => undefined,
    };
  }
  const [outRead, outWrite] = native.pipe();
  const [errRead, errWrite] = native.pipe();
  const [inRead, inWrite] = exec.attachStdin ? native.pipe() : [-1, -1];
  pipeOut(outRead, 'stdout', exec.attachStdout);
  pipeOut(errRead, 'stderr', exec.attachStderr);
  if (inWrite >= 0) feed(new Socket({ fd: inWrite, readable: false, writable: true }));
  const childEnds = [outWrite, errWrite, ...(inRead >= 0 ? [inRead] : [])];
  let open = true;
  const afterStart = () => {
    if (!open) return;
    open = false;
    for (const fd of childEnds) closeSync(fd);
  };
  return {
    stdio: [inRead >= 0 ? inRead : 0, outWrite, errWrite] as [number, number, number],
    console: undefined,
    afterStart,
    drained: () => Promise.all(drained).then(() => undefined),
  };
}

async function start(r: ApiRequest): Promise<void> {
  const exec = instance(r);
  if (exec.running || exec.exitCode !== null) throw new ApiError('conflict', `exec ${exec.id} has already run`);
  const body = await readJson(r);
  const detach = body.Detach === true;
  const base = { execId: exec.id, command: exec.command, env: exec.env, user: exec.user, workdir: exec.workdir, tty: exec.tty, interactive: exec.attachStdin };
  exec.running = true;
  if (detach) {
    try {
      await r.service.engine.exec(exec.containerId, { ...base, detach: true, io: { stdio: [0, 1, 2], started: (pid) => (exec.pid = pid) } });
    } finally {
      exec.running = false;
    }
    return sendEmpty(r, 200);
  }
  const client = hijack(r, exec.tty);
  const io = wire(exec, client);
  try {
    exec.exitCode = await r.service.engine.exec(exec.containerId, {
      ...base,
      detach: false,
      io: {
        stdio: io.stdio,
        console: io.console,
        started: (pid) => {
          exec.pid = pid;
          io.afterStart();
        },
      },
    });
  } catch (err) {
    // The process never ran: the client reads why on its stream, as docker prints an OCI error.
    exec.exitCode = 126;
    client.write('stderr', Buffer.from(`${err instanceof Error ? err.message : String(err)}\n`));
  } finally {
    exec.running = false;
    io.afterStart();
  }
  await io.drained();
  client.end();
}

async function inspect(r: ApiRequest): Promise<void> {
  const exec = instance(r);
  sendJson(r, 200, {
    ID: exec.id,
    Running: exec.running,
    ExitCode: exec.exitCode,
    ProcessConfig: { tty: exec.tty, entrypoint: exec.command[0], arguments: exec.command.slice(1), privileged: false, user: exec.user ?? '' },
    OpenStdin: exec.attachStdin,
    OpenStderr: exec.attachStderr,
    OpenStdout: exec.attachStdout,
    CanRemove: false,
    ContainerID: exec.containerId,
    DetachKeys: '',
    Pid: exec.pid,
  });
}

async function resize(r: ApiRequest): Promise<void> {
  const exec = instance(r);
  const h = intParam(r.query, 'h');
  const w = intParam(r.query, 'w');
  if (h === undefined || w === undefined || h < 0 || w < 0 || h > 0xffff || w > 0xffff) throw new ApiError('invalid-argument', 'resize: h and w must be sizes');
  if (!exec.tty) throw new ApiError('conflict', `exec ${exec.id} has no terminal to resize`);
  if (exec.console !== undefined) native.setWinsize(exec.console, h, w);
  sendEmpty(r, 200);
}

export const execRoutes: Route[] = [
  { method: 'POST', path: '/containers/{id}/exec', handler: create },
  { method: 'POST', path: '/exec/{id}/start', handler: start },
  { method: 'GET', path: '/exec/{id}/json', handler: inspect },
  { method: 'POST', path: '/exec/{id}/resize', handler: resize },
];
