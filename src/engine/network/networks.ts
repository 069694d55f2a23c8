// The networks of a BERTH_ROOT: `<root>/networks/<name>.json`, written by rename. The default
// network `bridge` (bridge berth0) is made on first use; user networks by `berth network create`.
// A subnet is picked from docker's pool, skipping every subnet the host already routes (its own
// links, other engines' bridges) and every other network of this root.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../fs/atomic.js';
import { AddressError, formatIPv4, formatSubnet, isHostAddress, overlaps, parseIPv4, parseSubnet, type Subnet } from './ipv4.js';
import { DEFAULT_NETWORK } from './options.js';
import { BerthError, type ErrorKind, isMissing } from '../../errors.js';

export interface NetworkRecord {
  name: string;
  id: string;
  driver: 'bridge';
  /** CIDR, like 172.17.0.0/16. */
  subnet: string;
  gateway: string;
  /** The Linux bridge: berth0 for the default network, br-<id 12> for user networks (as docker's). */
  bridge: string;
  created: string;
  /** docker's labels (`network create --label`; compose marks its networks with them). */
  labels?: Record<string, string>;
}

export class NetworkError extends BerthError {
  static override readonly kind: ErrorKind = 'invalid-argument';
  override readonly name = 'NetworkError';
}

export const DEFAULT_BRIDGE = 'berth0';
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** docker's default pools: 172.17-31.0.0/16, then 192.168.0-240.0/20. */
function* candidateSubnets(): Generator<Subnet> {
  for (let b = 17; b <= 31; b++) yield { base: parseIPv4(`172.${b}.0.0`), prefix: 16 };
  for (let c = 0; c <= 240; c += 16) yield { base: parseIPv4(`192.168.${c}.0`), prefix: 20 };
}

/** The IPv4 subnets of the host's routes (main table), default routes aside: /proc/net/route. */
export function hostRoutes(): Subnet[] {
  const out: Subnet[] = [];
  for (const line of readFileSync('/proc/net/route', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    // Little-endian hex, as the kernel prints them.
    const le = (hex: string) => Buffer.from(hex, 'hex').readUInt32LE(0);
    const maskBits = le(f[7]).toString(2).replaceAll('0', '').length;
    if (maskBits === 0) continue;
    out.push({ base: le(f[1]), prefix: maskBits });
  }
  return out;
}

export class NetworkStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'networks');
  }

  private file(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  list(): NetworkRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith('.json'));
    } catch (err) {
      if (!isMissing(err)) throw err;
      return []; // no network made yet
    }
    const out: NetworkRecord[] = [];
    for (const n of names) {
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, n), 'utf8')) as NetworkRecord);
      } catch {
        // removed while we listed
      }
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** By name, full id or unique id prefix; the default network is made here on first use. */
  find(ref: string): NetworkRecord {
    if (ref === DEFAULT_NETWORK) return this.defaultNetwork();
    const all = this.list();
    const byName = all.find((n) => n.name === ref);
    if (byName) return byName;
    const byId = all.filter((n) => n.id.startsWith(ref));
    if (byId.length === 1 && ref.length >= 1) return byId[0];
    if (byId.length > 1) throw new NetworkError(`multiple networks match the id prefix ${ref}: be more specific`);
    throw new NetworkError(`network ${ref} not found`, { kind: 'not-found' });
  }

  /** The caller holds the network lock: two creates cannot pick one subnet. */
  create(opts: { name: string; subnet?: string; gateway?: string; bridge?: string; labels?: Record<string, string> }): NetworkRecord {
    if (!NAME_PATTERN.test(opts.name)) throw new NetworkError(`invalid network name ${JSON.stringify(opts.name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (['none', 'host', 'default'].includes(opts.name) || opts.name.startsWith('container:')) throw new NetworkError(`network name ${opts.name} is reserved`);
    if (this.list().some((n) => n.name === opts.name)) throw new NetworkError(`network with name ${opts.name} already exists`, { kind: 'conflict' });
    const others = this.list().map((n) => parseSubnet(n.subnet));
    let subnet: Subnet;
    try {
      if (opts.subnet) {
        subnet = parseSubnet(opts.subnet);
        const clash = others.find((o) => overlaps(o, subnet));
        if (clash) throw new NetworkError(`subnet ${opts.subnet} overlaps network ${formatSubnet(clash)} of another berth network`);
      } else {
        if (opts.gateway) throw new NetworkError('--gateway needs --subnet');
        subnet = this.freeSubnet(others);
      }
    } catch (err) {
      if (err instanceof AddressError) throw new NetworkError(`--subnet: ${err.message}`);
      throw err;
    }
    let gateway = subnet.base + 1;
    if (opts.gateway) {
      try {
        gateway = parseIPv4(opts.gateway);
      } catch (err) {
        throw new NetworkError(`--gateway: ${(err as Error).message}`);
      }
      if (!isHostAddress(subnet, gateway)) throw new NetworkError(`--gateway ${opts.gateway} is not a usable address of subnet ${formatSubnet(subnet)}`);
    }
    const id = randomBytes(32).toString('hex');
    const record: NetworkRecord = {
      name: opts.name,
      id,
      driver: 'bridge',
      subnet: formatSubnet(subnet),
      gateway: formatIPv4(gateway),
      bridge: opts.bridge ?? `br-${id.slice(0, 12)}`,
      created: new Date().toISOString(),
      labels: opts.labels ?? {},
    };
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(opts.name), JSON.stringify(record, null, 2) + '\n');
    return record;
  }

  private freeSubnet(others: Subnet[]): Subnet {
    const taken = [...others, ...hostRoutes()];
    for (const c of candidateSubnets()) if (!taken.some((t) => overlaps(t, c))) return c;
    throw new NetworkError('no free subnet left in the default pools (172.17-31.0.0/16, 192.168.0-240.0/20): give one with --subnet');
  }

  private defaultNetwork(): NetworkRecord {
    try {
      return JSON.parse(readFileSync(this.file(DEFAULT_NETWORK), 'utf8')) as NetworkRecord;
    } catch {
      // first use
    }
    try {
      return this.create({ name: DEFAULT_NETWORK, bridge: DEFAULT_BRIDGE });
    } catch (err) {
      // Another berth made it between our read and our write.
      if (err instanceof NetworkError && /already exists/.test(err.message)) return JSON.parse(readFileSync(this.file(DEFAULT_NETWORK), 'utf8')) as NetworkRecord;
      throw err;
    }
  }

  remove(record: NetworkRecord): void {
    rmSync(this.file(record.name), { force: true });
  }
}

export function subnetOf(network: NetworkRecord): Subnet {
  return parseSubnet(network.subnet);
}
