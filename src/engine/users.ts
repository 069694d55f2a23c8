// `--user` / the image's User ("name", "uid", "uid:gid", "name:group") → numeric ids, looked up in
// the image's own /etc/passwd and /etc/group, as docker does.
import { BerthError, type ErrorKind } from '../errors.js';
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

export class UserLookupError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'UserLookupError';
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

function parsePasswd(text: string | null): PasswdEntry[] {
  return (text ?? '')
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 7 && /^\d+$/.test(f[2]) && /^\d+$/.test(f[3]))
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5] }));
}

function parseGroup(text: string | null): { name: string; gid: number; members: string[] }[] {
  return (text ?? '')
    .split('\n')
    .map((line) => line.split(':'))
    .filter((f) => f.length >= 4 && /^\d+$/.test(f[2]))
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: f[3].split(',').filter(Boolean) }));
}

/**
 * `readFile` reads a file of the image's rootfs (null when absent). A numeric uid needs no passwd
 * entry; a name does, and so does a group name.
 */
export function resolveUser(spec: string | undefined, readFile: (path: string) => string | null): ResolvedUser {
  const [userPart, groupPart] = (spec || '0').split(':', 2);
  const passwd = parsePasswd(readFile('/etc/passwd'));
  const groups = parseGroup(readFile('/etc/group'));
  let entry: PasswdEntry | undefined;
  let uid: number;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) throw new UserLookupError(`unable to find user ${userPart}: no matching entries in the image's /etc/passwd`);
    uid = entry.uid;
  }
  let gid = entry?.gid ?? 0;
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else {
      const group = groups.find((g) => g.name === groupPart);
      if (!group) throw new UserLookupError(`unable to find group ${groupPart}: no matching entries in the image's /etc/group`);
      gid = group.gid;
    }
  }
  const name = entry?.name;
  const additionalGids = name ? groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid) : [];
  return { uid, gid, additionalGids, home: entry?.home || '/' };
}

/**
 * --group-add: each a gid, or a group name looked up in the image's /etc/group, as docker does;
 * the ids in order, without repeats.
 */
export function groupAddIds(names: readonly string[], readFile: (path: string) => string | null): number[] {
  if (names.length === 0) return [];
  const groups = parseGroup(readFile('/etc/group'));
  const ids = names.map((name) => {
    if (/^\d+$/.test(name)) {
      const gid = Number(name);
      if (gid > 0xffff_fffe) throw new UserLookupError(`--group-add ${name}: a gid must be below 4294967295`);
      return gid;
    }
    const group = groups.find((g) => g.name === name);
    if (!group) throw new UserLookupError(`--group-add ${name}: unable to find group ${name}: no matching entries in the image's /etc/group`);
    return group.gid;
  });
  return [...new Set(ids)];
}
