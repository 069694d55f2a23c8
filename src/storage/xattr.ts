// Extended attributes of a path, never following a final symlink.
import { native } from '../kernel/native.js';

export function listXattrs(path: string): string[] {
  const raw = native.llistxattr(path);
  if (raw.length === 0) return [];
  return raw.toString('utf8', 0, raw[raw.length - 1] === 0 ? raw.length - 1 : raw.length).split('\0');
}

/** null when the attribute is not set. */
export function getXattr(path: string, name: string): Buffer | null {
  return native.lgetxattr(path, name);
}

export function setXattr(path: string, name: string, value: Buffer | string): void {
  native.lsetxattr(path, name, typeof value === 'string' ? Buffer.from(value) : value);
}

/** Which attributes of a layer are kept: security.* only for file capabilities (SELinux labels
 *  and the like are the host's business); overlay's own trusted.overlay.* only come from
 *  whiteouts, never from a layer that could forge them. */
export function layerKeepsXattr(name: string): boolean {
  if (name.startsWith('security.')) return name === 'security.capability';
  if (name.startsWith('trusted.overlay.')) return false;
  return true;
}

export const OPAQUE_XATTR = 'trusted.overlay.opaque';
