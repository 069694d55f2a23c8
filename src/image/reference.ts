// Image references as docker reads them (distribution/reference's grammar and normalisation):
//   busybox                      → docker.io/library/busybox:latest
//   user/app:1                   → docker.io/user/app:1
//   localhost:5000/x             → localhost:5000/x:latest
//   registry.example.com/a/b:tag → as written
//   name@sha256:<64 hex>         → docker.io/library/name@sha256:... (no tag added)
//   name:tag@sha256:<64 hex>     → both kept; the digest is what identifies the content
import { InvalidReferenceError } from './errors.js';

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's registry API (docker.io itself does not). */
export const DOCKER_HUB_API = 'registry-1.docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
const MAX_NAME_LENGTH = 255;

export interface Reference {
  /** Registry host with its port: `docker.io`, `localhost:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`, `a/b`. */
  readonly path: string;
  readonly tag?: string;
  /** `sha256:` and 64 hex digits. */
  readonly digest?: string;
}

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const IMAGE_ID_RE = /^(?:sha256:)?[a-f0-9]{64}$/;

function refuse(text: string, why: string): never {
  throw new InvalidReferenceError(`invalid reference ${JSON.stringify(text)}: ${why}`);
}

/** docker's split: the first component is a registry only if it has a `.` or `:`, or is `localhost`. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  let domain: string;
  let path: string;
  if (slash === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DOCKER_HUB;
    path = name;
  } else {
    domain = first;
    path = name.slice(slash + 1);
  }
  if (domain === LEGACY_DOCKER_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  return { domain, path };
}

/**
 * Parses and normalises a reference as `docker pull` does. Without tag and digest, `latest` is
 * added unless `defaultTag` is false (a repository name alone, for `berth images busybox`).
 */
export function parseReference(text: string, options: { defaultTag?: boolean } = {}): Reference {
  if (text === '') refuse(text, 'empty');
  if (IMAGE_ID_RE.test(text) && !text.startsWith('sha256:')) refuse(text, 'a 64-hex-digit string is an image id, not a repository name');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) refuse(text, `bad digest ${JSON.stringify(digest)}`);
    const [algorithm, hex] = digest.split(':') as [string, string];
    if (algorithm !== 'sha256') refuse(text, `unsupported digest algorithm ${algorithm} (berth keeps sha256)`);
    if (hex.length !== 64) refuse(text, 'a sha256 digest has 64 hex digits');
    digest = `sha256:${hex.toLowerCase()}`;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) refuse(text, `bad tag ${JSON.stringify(tag)} (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  if (rest === '') refuse(text, 'no repository name');
  const { domain, path } = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) refuse(text, `bad registry ${JSON.stringify(domain)}`);
  if (path.toLowerCase() !== path) refuse(text, 'repository name must be lowercase');
  if (!PATH_RE.test(path)) refuse(text, `bad repository name ${JSON.stringify(path)} (lowercase letters, digits and separators . _ __ -, components joined by /)`);
  if (domain.length + 1 + path.length > MAX_NAME_LENGTH) refuse(text, `repository name longer than ${MAX_NAME_LENGTH} characters`);
  if (tag === undefined && digest === undefined && options.defaultTag !== false) tag = DEFAULT_TAG;
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `docker.io/library/busybox` */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The whole normalised reference: `docker.io/library/busybox:latest`, `...@sha256:...`. */
export function formatReference(ref: Reference): string {
  return repositoryName(ref) + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest !== undefined ? `@${ref.digest}` : '');
}

/** Normalises a reference given as text: `busybox` → `docker.io/library/busybox:latest`. */
export function normalizeReference(text: string): string {
  return formatReference(parseReference(text));
}

/** The repository as `docker images` shows it: `busybox`, `user/app`, `localhost:5000/x`. */
export function familiarRepository(ref: Reference): string {
  if (ref.domain !== DOCKER_HUB) return repositoryName(ref);
  return ref.path.startsWith(OFFICIAL_PREFIX) && !ref.path.slice(OFFICIAL_PREFIX.length).includes('/') ? ref.path.slice(OFFICIAL_PREFIX.length) : ref.path;
}

/** The short form docker prints: `busybox:latest`, `user/app:1`, `registry.example.com/a/b@sha256:...`. */
export function familiarName(ref: Reference | string): string {
  const r = typeof ref === 'string' ? parseReference(ref, { defaultTag: false }) : ref;
  return familiarRepository(r) + (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** A login's server as docker takes it: `https://host:port/` or `host:port` → `host:port`; nothing (or Docker Hub's other names) → Docker Hub. */
export function registryDomain(text: string | undefined): string {
  if (text === undefined || text === '') return DOCKER_HUB;
  const host = text.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (host === LEGACY_DOCKER_HUB || host === DOCKER_HUB_API) return DOCKER_HUB;
  return host;
}

/** The host to speak the registry API to: Docker Hub's is not docker.io. */
export function registryHost(domain: string): string {
  return domain === DOCKER_HUB ? DOCKER_HUB_API : domain;
}

/** A reference with another tag (and no digest): for `berth tag`, and for naming what a digest pulled. */
export function withTag(ref: Reference, tag: string): Reference {
  if (!TAG_RE.test(tag)) throw new InvalidReferenceError(`invalid tag ${JSON.stringify(tag)}`);
  return { domain: ref.domain, path: ref.path, tag };
}

/** True for a text docker would take as an image id or an id prefix rather than a name first. */
export function looksLikeImageId(text: string): boolean {
  return /^(?:sha256:)?[a-f0-9]{1,64}$/.test(text);
}
