// Names on a network, as docker's per-container files gave them before its embedded DNS: each
// container's /etc/hosts lists itself and, on a user network, every other container there by
// name, alias and short id. The files are bind-mounted into running containers, so they are
// rewritten in place (write, then truncate): a rename would leave the container the old inode.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { readFileIfExists } from '../../fs/if-exists.js';

export interface HostEntry {
  ip: string;
  names: string[];
}

const LOCAL_LINES = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];

/** The container's own entries first (its address, hostname and names), then --add-host's, then its peers'. */
export function hostsFileContent(self: HostEntry | null, extra: [string, string][], peers: HostEntry[]): string {
  const lines = [...LOCAL_LINES];
  if (self) lines.push(`${self.ip}\t${self.names.join(' ')}`);
  for (const [name, ip] of extra) lines.push(`${ip}\t${name}`);
  for (const p of peers) lines.push(`${p.ip}\t${p.names.join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Rewrites a file keeping its inode: the container sees the new content through its bind mount. */
export function rewriteInPlace(path: string, content: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return; // the container's files are gone (removed meanwhile): nothing to keep up to date
  }
  try {
    const data = Buffer.from(content);
    writeSync(fd, data, 0, data.length, 0);
    ftruncateSync(fd, data.length);
  } finally {
    closeSync(fd);
  }
}

/** resolv.conf with --dns's servers in place of the host's (search and options kept). */
export function withNameservers(resolvConf: string, servers: string[]): string {
  if (!servers.length) return resolvConf;
  const kept = resolvConf.split('\n').filter((l) => l.trim() && !/^\s*nameserver\s/.test(l));
  return [...servers.map((s) => `nameserver ${s}`), ...kept].join('\n') + '\n';
}

/** The file's text; a missing file reads as empty (a host without /etc/hosts). */
export function readText(path: string): string {
  return readFileIfExists(path) ?? '';
}
