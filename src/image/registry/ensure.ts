// The image a `berth run` needs, pulled or not as `--pull missing|always|never` says (docker's
// meanings): missing pulls only what the store does not have; always asks the registry every time
// (and downloads nothing when the manifest is the one already here); never only looks locally.
import type { ImageRecord, ImageStore } from '../store.js';
import type { Platform } from '../../oci/image-spec.js';
import { ImageError, NotFoundError } from '../errors.js';
import { parseConfig } from '../manifest.js';
import { familiarName, parseReference } from '../reference.js';
import { formatPlatform, platformMatches } from '../platform.js';
import { pull, type PullEvent, type PullOptions } from './pull.js';

export type PullPolicy = 'missing' | 'always' | 'never';

export const PULL_POLICIES: readonly PullPolicy[] = ['missing', 'always', 'never'];

export interface EnsureOptions extends Omit<PullOptions, 'platform' | 'onEvent'> {
  policy: PullPolicy;
  /** The platform asked for (`--platform`); a local image for another one does not count. */
  platform?: Platform;
  /** A pull's progress (the CLI's per-layer lines). */
  onProgress?: (event: PullEvent) => void;
}

export interface EnsureResult {
  record: ImageRecord;
  /** Whether the registry was asked (docker prints `Unable to find image ... locally` first for missing). */
  pulled: boolean;
  /** Blobs downloaded by the pull: 0 when nothing changed. */
  downloaded: number;
}

/** The image `text` names (a reference, or an id for missing/never), pulled as `policy` says. */
export async function ensureImage(store: ImageStore, text: string, options: EnsureOptions): Promise<EnsureResult> {
  const { policy, platform, onProgress, ...pullOptions } = options;
  if (!PULL_POLICIES.includes(policy)) throw new ImageError(`--pull ${String(policy)}: use missing, always or never`);
  if (policy !== 'always') {
    const local = store.find(text);
    const localPlatform = local !== undefined && platform !== undefined ? await imagePlatform(store, local) : undefined;
    if (local !== undefined && (localPlatform === undefined || platformMatches(localPlatform, platform!))) return { record: local, pulled: false, downloaded: 0 };
    if (policy === 'never') {
      if (localPlatform !== undefined) {
        throw new NotFoundError(`image with reference ${text} was found but its platform (${formatPlatform(localPlatform)}) does not match the specified platform (${formatPlatform(platform!)})`);
      }
      throw new NotFoundError(`No such image: ${familiarName(parseReference(text))}`);
    }
  }
  const result = await pull(store, text, { ...pullOptions, ...(platform ? { platform } : {}), ...(onProgress ? { onEvent: onProgress } : {}) });
  return { record: result.record, pulled: true, downloaded: result.downloaded };
}

async function imagePlatform(store: ImageStore, record: ImageRecord): Promise<Platform> {
  const config = parseConfig(await store.read(record.id), `config ${record.id}`);
  return { os: config.os, architecture: config.architecture, ...(config.variant ? { variant: config.variant } : {}) };
}
