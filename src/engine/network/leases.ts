// IP address management: one file per address in use, `<root>/networks/leases/<network id>/<ip>`,
// created with O_EXCL (two `berth` processes can never take one address) and holding the
// container's id and the holder process (`pid starttime`). A lease is released when its container's
// network is torn down; one whose container the engine no longer has and whose holder process is
// gone is a crash's leftover, and is taken back when an address is next needed.
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { holderAlive, holderId } from '../../fs/lock.js';
import { formatIPv4, isHostAddress, parseIPv4, size } from './ipv4.js';
import { NetworkError, subnetOf, type NetworkRecord } from './networks.js';
import { isMissing } from '../../errors.js';

export interface Lease {
  network: string;
  ip: string;
  container: string;
}

export class LeaseStore {
  readonly dir: string;

  /** `containerExists`: whether a container id still stands for a container (the engine knows). */
  constructor(root: string, private readonly containerExists: (id: string) => boolean) {
    this.dir = join(root, 'networks', 'leases');
  }

  private networkDir(network: NetworkRecord): string {
    return join(this.dir, network.id);
  }

  /** Takes `wanted` (--ip) or the lowest free address after the gateway. The caller holds the network lock. */
  take(network: NetworkRecord, container: string, wanted?: string): string {
    const dir = this.networkDir(network);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const subnet = subnetOf(network);
    const gateway = parseIPv4(network.gateway);
    if (wanted !== undefined) {
      const address = parseIPv4(wanted);
      if (!isHostAddress(subnet, address) || address === gateway) throw new NetworkError(`--ip ${wanted} is not a free address of network ${network.name} (${network.subnet}, gateway ${network.gateway})`);
      if (this.tryTake(dir, wanted, container)) return wanted;
      throw new NetworkError(`--ip ${wanted}: the address is already in use on network ${network.name}`);
    }
    for (let address = subnet.base + 1; address < subnet.base + size(subnet) - 1; address++) {
      if (address === gateway) continue;
      const ip = formatIPv4(address);
      if (this.tryTake(dir, ip, container)) return ip;
    }
    throw new NetworkError(`network ${network.name} (${network.subnet}) has no free address left`);
  }

  /** O_EXCL create; on EEXIST, takes back a stale lease and tries once more. */
  private tryTake(dir: string, ip: string, container: string): boolean {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(join(dir, ip), 'wx', 0o600);
        writeSync(fd, `${container}\n${holderId()}\n`);
        closeSync(fd);
        return true;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      if (!this.isStale(join(dir, ip))) return false;
      rmSync(join(dir, ip), { force: true });
    }
    return false;
  }

  /** A lease is stale when its container is gone and so is the process that took it. */
  private isStale(file: string): boolean {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (err) {
      if (!isMissing(err)) throw err;
      return true; // released meanwhile: nothing of it to keep
    }
    const [container, holder] = content.split('\n');
    // An empty file: its holder is between open and write (we hold the lock, so it died there).
    if (!container) return true;
    return !this.containerExists(container) && !holderAlive(holder ?? '');
  }

  /** Releases every lease the container holds on the network (one a crash took but never recorded too). */
  release(network: NetworkRecord, container: string): void {
    for (const lease of this.list(network)) {
      if (lease.container !== container) continue;
      try {
        unlinkSync(join(this.networkDir(network), lease.ip));
      } catch {
        // already released
      }
    }
  }

  /** Every lease of the network (a test and `network inspect` look). */
  list(network: NetworkRecord): Lease[] {
    const dir = this.networkDir(network);
    let ips: string[];
    try {
      ips = readdirSync(dir);
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no lease taken on this network yet
    }
    const out: Lease[] = [];
    for (const ip of ips) {
      try {
        out.push({ network: network.name, ip, container: readFileSync(join(dir, ip), 'utf8').split('\n')[0] });
      } catch {
        // released meanwhile
      }
    }
    return out;
  }

  /** Takes back every stale lease of the network (`network prune`, `network rm`). */
  reclaim(network: NetworkRecord): void {
    const dir = this.networkDir(network);
    for (const lease of this.list(network)) if (this.isStale(join(dir, lease.ip))) rmSync(join(dir, lease.ip), { force: true });
  }

  removeNetwork(network: NetworkRecord): void {
    rmSync(this.networkDir(network), { recursive: true, force: true });
  }
}
