// Registry credentials where docker, podman and skopeo keep them: $DOCKER_CONFIG/config.json,
// else ~/.docker/config.json, as {"auths": {"HOST[:PORT]": {"auth": base64("user:pass")}}}.
// Other keys of the file are kept as they are; the file is written aside (mode 0600) and renamed.
import { mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fs/atomic.js';
import { DOCKER_HUB, DOCKER_HUB_API } from '../reference.js';
import { ImageError } from '../errors.js';

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

type ConfigFile = Record<string, unknown> & { auths?: Record<string, { auth?: string; username?: string; password?: string; [k: string]: unknown }> };

function readConfig(file: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
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
  const auths = readConfig(file).auths ?? {};
  const key = authKey(domain);
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
  const auths = (config.auths ??= {});
  const key = authKey(domain);
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
  const auths = config.auths ?? {};
  const key = authKey(domain);
  const keys = [key, `https://${key}`, `http://${key}`].filter((k) => k in auths);
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  writeConfig(file, dir, config);
  return true;
}
