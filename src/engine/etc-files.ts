// The files docker makes for each container and binds over the image's: /etc/hostname,
// /etc/hosts and /etc/resolv.conf.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ContainerFiles } from './container-spec.js';
import { readFileIfExists } from '../fs/if-exists.js';

/** Docker's fallback when the host only has resolvers on its own loopback, which a container cannot reach. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

/**
 * The host's resolv.conf without loopback nameservers (systemd-resolved's 127.0.0.53 is the host's
 * own, never the container's); the systemd-resolved upstream list when that is what the host has.
 */
export function containerResolvConf(hostResolvConf: string, upstream: string | null): string {
  const source = hostResolvConf.split('\n').some((l) => /^\s*nameserver\s+127\.0\.0\.53\b/.test(l)) && upstream ? upstream : hostResolvConf;
  const lines = source.split('\n').filter((l) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(l);
    return !m || !isLoopback(m[1]);
  });
  const servers = lines.filter((l) => /^\s*nameserver\s/.test(l));
  const body = lines.filter((l) => l.trim() !== '').join('\n');
  if (servers.length) return body + '\n';
  return [body, ...FALLBACK_NAMESERVERS.map((s) => `nameserver ${s}`)].filter(Boolean).join('\n') + '\n';
}


export function writeContainerFiles(dir: string, hostname: string): ContainerFiles {
  const files: ContainerFiles = {
    hostname: join(dir, 'hostname'),
    hosts: join(dir, 'hosts'),
    resolvConf: join(dir, 'resolv.conf'),
  };
  writeFileSync(files.hostname, `${hostname}\n`);
  writeFileSync(
    files.hosts,
    ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters', `127.0.1.1\t${hostname}`].join('\n') + '\n',
  );
  writeFileSync(files.resolvConf, containerResolvConf(readFileIfExists('/etc/resolv.conf') ?? '', readFileIfExists('/run/systemd/resolve/resolv.conf')));
  return files;
}
