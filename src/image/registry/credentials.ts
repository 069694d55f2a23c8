// Registry credentials where docker, podman and skopeo keep them: $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json, as {"auths": {"HOST[:PORT]": {"auth": base64("user:pass")}}}.
// Other keys of the file are kept as they are; the file is written aside (mode 0600) and renamed.
// A credential helper named in the file takes the registry's credentials instead: `credHelpers`
// {"HOST": "NAME"} for one registry, else `credsStore` "NAME" for all. Helpers speak docker's
// protocol: `docker-credential-NAME get|store|erase`, the server on stdin (for store, JSON
// {"ServerURL","Username","Secret"}), JSON {"Username","Secret"} or "credentials not found" back.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fs/atomic.js';
import { DOCKER_HUB, DOCKER_HUB_API } from '../reference.js';
import { ImageError } from '../errors.js';
import { isMissing } from '../../errors.js';

export interface Credentials {
  username: string;
  password: string;
}

/** The key docker uses for Docker Hub (older than the registry's own name). */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function dockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || join(homedir(), '.docker');
}

export function dockerConfigFile(): string {
  return join(dockerConfigDir(), 'config.json');
}

/** The key of a registry in `auths`: `host:port`, or Docker Hub's historical URL. */
export function authKey(domain: string): string {
  return domain === DOCKER_HUB || domain === DOCKER_HUB_API || domain === 'index.docker.io' ? DOCKER_HUB_KEY : domain;
}

type ConfigFile = Record<string, unknown> & {
  auths?: Record<string, { auth?: string; username?: string; password?: string; [k: string]: unknown }>;
  credsStore?: unknown;
  credHelpers?: Record<string, unknown>;
};

/** The credential helper the config names for a registry key, if any. */
function helperFor(config: ConfigFile, key: string, file: string): string | undefined {
  const name = config.credHelpers?.[key] ?? config.credsStore;
  if (name === undefined || name === '') return undefined;
  if (typeof name !== 'string' || !/^[A-Za-z0-9._-]+$/.test(name)) throw new ImageError(`${file}: credential helper ${JSON.stringify(name)} is not a helper name`);
  return name;
}

const NOT_FOUND = /credentials not found/i;

/** Runs `docker-credential-NAME verb` with `input` on stdin: its stdout, or undefined for "not found". */
function runHelper(name: string, verb: 'get' | 'store' | 'erase', input: string): string | undefined {
  const program = `docker-credential-${name}`;
  const r = spawnSync(program, [verb], { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    throw new ImageError(`credential helper ${program}: ${code === 'ENOENT' ? 'not found in PATH' : r.error.message}`);
  }
  if (r.status === 0) return r.stdout;
  const said = `${r.stdout}\n${r.stderr}`.trim();
  if (NOT_FOUND.test(said)) return undefined;
  throw new ImageError(`credential helper ${program} ${verb}: ${said.split('\n')[0] || `exit status ${r.status ?? r.signal}`}`);
}

function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (!isMissing(err)) throw err;
    return {}; // no config file: no credentials
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value as ConfigFile;
  } catch (err) {
    throw new ImageError(`${file}: ${(err as Error).message}`);
  }
}

/** Stored credentials for a registry, if any (by `host:port`, also `https://host:port` keys). */
export function readCredentials(domain: string, file = dockerConfigFile()): Credentials | undefined {
  const config = readConfig(file);
  const key = authKey(domain);
  const helper = helperFor(config, key, file);
  if (helper !== undefined) {
    const out = runHelper(helper, 'get', key);
    if (out === undefined) return undefined;
    let doc: { Username?: unknown; Secret?: unknown };
    try {
      doc = JSON.parse(out) as typeof doc;
    } catch (err) {
      throw new ImageError(`credential helper docker-credential-${helper} get: its answer is not JSON`, { cause: err });
    }
    if (typeof doc.Username !== 'string' || typeof doc.Secret !== 'string') throw new ImageError(`credential helper docker-credential-${helper} get: no Username and Secret in its answer`);
    // docker-credential-pass (0.6) answers a registry it has nothing for with both empty and exit
    // 0; docker's client sends no credentials then, and neither does berth.
    if (doc.Username === '' && doc.Secret === '') return undefined;
    // "<token>" marks an identity token (an OAuth refresh token), which berth does not speak.
    if (doc.Username === '<token>') throw new ImageError(`credential helper docker-credential-${helper}: ${key} has an identity token, not a password: not supported`);
    return { username: doc.Username, password: doc.Secret };
  }
  const auths = config.auths ?? {};
  const entry = auths[key] ?? auths[`https://${key}`] ?? auths[`http://${key}`] ?? (key === DOCKER_HUB_KEY ? auths[DOCKER_HUB] : undefined);
  if (entry === undefined) return undefined;
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new ImageError(`${file}: auths["${key}"].auth is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

function writeConfig(file: string, dir: string, config: ConfigFile): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileAtomic(file, JSON.stringify(config, null, '\t') + '\n', 0o600);
}

/** Stores credentials for a registry, keeping everything else in the file. */
export function storeCredentials(domain: string, credentials: Credentials, dir = dockerConfigDir()): void {
  const file = join(dir, 'config.json');
  const config = readConfig(file);
  const key = authKey(domain);
  const helper = helperFor(config, key, file);
  if (helper !== undefined) {
    runHelper(helper, 'store', JSON.stringify({ ServerURL: key, Username: credentials.username, Secret: credentials.password }));
    return;
  }
  const auths = (config.auths ??= {});
  const previous = auths[key] ?? {};
  delete previous.username;
  delete previous.password;
  auths[key] = { ...previous, auth: Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64') };
  writeConfig(file, dir, config);
}

/** Removes a registry's credentials; false when there were none. */
export function removeCredentials(domain: string, dir = dockerConfigDir()): boolean {
  const file = join(dir, 'config.json');
  const config = readConfig(file);
  const key = authKey(domain);
  const helper = helperFor(config, key, file);
  if (helper !== undefined) {
    // Asked first: helpers differ in how an erase of nothing fails (pass: "is not in the password store").
    if (readCredentials(domain, file) === undefined) return false;
    return runHelper(helper, 'erase', key) !== undefined;
  }
  const auths = config.auths ?? {};
  const keys = [key, `https://${key}`, `http://${key}`].filter((k) => k in auths);
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  writeConfig(file, dir, config);
  return true;
}
