// `berth system service` as the API tests run it: a service of a test's own BERTH_ROOT on a socket
// of its own, the docker CLIs pointed at it (their config in a temp dir), and raw requests for
// what no CLI sends (a bad version, a broken body).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get, request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { BERTH, type Result } from './berth-cli.js';
import { waitFor } from './run.js';

/** docker 28 (where installed) and Debian's docker.io 20.10: both must drive berth. */
export const DOCKER_CLIS = ['/usr/local/bin/docker', '/usr/bin/docker'].filter((p) => existsSync(p));
export const DEBIAN_DOCKER = '/usr/bin/docker';

export interface ApiService {
  socket: string;
  child: ChildProcess;
  /** stderr of the service so far. */
  stderr: () => string;
  /** Its exit status, when it exits. */
  exited: Promise<number | null>;
  /** Ends it with SIGTERM and waits for its exit status. */
  stop: () => Promise<number | null>;
}

export async function startService(t: TestContext, env: NodeJS.ProcessEnv, args: string[] = ['--time', '0']): Promise<ApiService> {
  const dir = mkdtempSync('/tmp/berth-test-api-');
  const socket = join(dir, 'berth.sock');
  const child = spawn(process.execPath, [BERTH, 'system', 'service', ...args, `unix://${socket}`], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  await waitFor('the service to listen', () => existsSync(socket) || child.exitCode !== null, 30_000);
  assert.ok(existsSync(socket), `the service did not listen: ${err}`);
  // The socket exists from listen() on; the service is ready once it answers (its group is set by then).
  for (let i = 0; (await rawRequest(socket, 'GET', '/_ping').catch(() => undefined))?.status !== 200; i++) {
    assert.ok(i < 100, `the service does not answer: ${err}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { socket, child, stderr: () => err, exited, stop };
}

/** A docker CLI pointed at the service. */
export function dockerCli(t: TestContext, socket: string, bin = DEBIAN_DOCKER): (...args: string[]) => Result {
  const config = mkdtempSync('/tmp/berth-test-docker-config-');
  t.after(() => rmSync(config, { recursive: true, force: true }));
  const env = { PATH: process.env.PATH, HOME: config, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: config };
  return (...args: string[]) => {
    const r = spawnSync(bin, args, { env, encoding: 'utf8', timeout: 120_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * One request on the socket, as no CLI would send it, on a connection of its own. (A refused
 * oversized body once cut the connection under the client: EPIPE. The service now reads such a
 * body to its end before it answers, so nothing here retries.)
 */
export function rawRequest(socket: string, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request({ socketPath: socket, method, path, headers, agent: false }, (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    // The service answers a refused body once it has read it, then closes: a write error after
    // the answer (the last of the body going out as the connection closes) is not the answer's.
    req.on('error', (err) => answered || reject(err));
    req.end(body);
  });
}

/** Bytes written on a connection of their own, and all that comes back before the service closes it. */
export function rawBytes(socket: string, data: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socket);
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.on('connect', () => s.write(data));
  });
}

/** The body of a plain GET (a published port, a registry's API). */
export function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
