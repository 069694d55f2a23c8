// A container's streams through the API: attach (the hijacked connection, connected to conmon's
// attach socket; before the start when the container has not started, so nothing is missed),
// logs (the log file as `berth logs` reads it, followed while the container runs), and resize.
import { attach, resizeTerminal, type Attachment } from '../engine/attach.js';
import { parseLogTime, printLogs } from '../engine/logs.js';
import { ApiError, boolParam, intParam, sendEmpty, type ApiRequest } from './http.js';
import type { Route } from './router.js';
import { hijack, parseDetachKeys, startStream, type ClientStream } from './stream.js';

/** The log's lines, framed when the container has no terminal; with `follow`, until it stops or the client goes. */
async function sendLogs(r: ApiRequest, id: string, client: ClientStream, opts: { follow: boolean; stdout: boolean; stderr: boolean; timestamps: boolean; tail?: number; since?: number; until?: number }): Promise<void> {
  const { engine } = r.service;
  await printLogs(
    engine.monitorPaths(id).log,
    {
      timestamps: opts.timestamps,
      tail: opts.tail,
      since: opts.since,
      until: opts.until,
      follow: opts.follow,
      running: async () => {
        if (client.isClosed) return false;
        const record = engine.containers.tryLoad(id);
        return record !== null && (record.state.status === 'running' || record.state.status === 'paused');
      },
    },
    (stream, text) => {
      if ((stream === 'stdout' && opts.stdout) || (stream === 'stderr' && opts.stderr)) client.write(stream, Buffer.from(text));
    },
  );
}

function logTime(r: ApiRequest, name: string): number | undefined {
  const text = r.query.get(name);
  if (!text || text === '0') return undefined;
  return parseLogTime(text);
}

async function logs(r: ApiRequest): Promise<void> {
  const record = await r.service.engine.inspect(r.params[0]);
  const stdout = boolParam(r.query, 'stdout');
  const stderr = boolParam(r.query, 'stderr');
  if (!stdout && !stderr) throw new ApiError('invalid-argument', 'Bad parameters: you must choose at least one stream');
  // A negative number is all of it, as dockerd reads it (testcontainers sends tail=-1).
  const tailText = /^-\d+$/.test(r.query.get('tail') ?? '') ? 'all' : r.query.get('tail');
  if (tailText && tailText !== 'all' && !/^\d+$/.test(tailText)) throw new ApiError('invalid-argument', `tail ${tailText}: a number of lines or "all"`);
  const opts = {
    follow: boolParam(r.query, 'follow'),
    stdout,
    stderr,
    timestamps: boolParam(r.query, 'timestamps'),
    tail: tailText && tailText !== 'all' ? Number(tailText) : undefined,
    since: logTime(r, 'since'),
    until: logTime(r, 'until'),
  };
  const client = startStream(r, 'application/vnd.docker.raw-stream', !record.tty);
  await sendLogs(r, record.id, client, opts);
  client.end();
}

async function attachHandler(r: ApiRequest): Promise<void> {
  const { engine } = r.service;
  const record = await engine.inspect(r.params[0]);
  const wantIn = boolParam(r.query, 'stdin');
  const wantOut = boolParam(r.query, 'stdout');
  const wantErr = boolParam(r.query, 'stderr');
  const stream = boolParam(r.query, 'stream');
  const withLogs = boolParam(r.query, 'logs');
  const detachKeys = parseDetachKeys(r.query.get('detachKeys'));
  if (!stream && !withLogs) throw new ApiError('invalid-argument', 'attach: stream or logs must be set');
  const client = hijack(r, record.tty);
  if (withLogs) await sendLogs(r, record.id, client, { follow: false, stdout: wantOut, stderr: wantErr, timestamps: false });
  if (!stream) return client.end();
  let attachment: Attachment | undefined;
  const connect = async () => {
    if (client.isClosed) return;
    attachment = attach({
      id: record.id,
      bundle: engine.monitorPaths(record.id).bundle,
      stdin: wantIn && record.openStdin,
      tty: record.tty,
      detachKeys,
      event: { root: engine.root, container: record },
      io: { input: wantIn && record.openStdin ? client.input : undefined, output: (s, data) => ((s === 'stdout' ? wantOut : wantErr) ? client.write(s, data) : undefined) },
    });
    const connected = attachment;
    void connected.done.then(() => {
      connected.close();
      client.end();
    });
  };
  const current = engine.containers.tryLoad(record.id);
  if (current && (current.state.status === 'running' || current.state.status === 'paused')) {
    await connect();
  } else {
    const withdraw = r.state.awaitStart(record.id, connect);
    void client.closed.then(withdraw);
  }
  void client.closed.then(() => attachment?.close());
}

async function resize(r: ApiRequest): Promise<void> {
  const record = await r.service.engine.inspect(r.params[0]);
  const h = intParam(r.query, 'h');
  const w = intParam(r.query, 'w');
  if (h === undefined || w === undefined || h < 0 || w < 0 || h > 0xffff || w > 0xffff) throw new ApiError('invalid-argument', 'resize: h and w must be sizes');
  if (!record.tty) throw new ApiError('conflict', `container ${record.name} has no terminal to resize`);
  resizeTerminal(r.service.engine.monitorPaths(record.id).bundle, h, w);
  sendEmpty(r, 200);
}

export const attachRoutes: Route[] = [
  { method: 'POST', path: '/containers/{id}/attach', handler: attachHandler },
  { method: 'GET', path: '/containers/{id}/logs', handler: logs },
  { method: 'POST', path: '/containers/{id}/resize', handler: resize },
];
