// A container's network, from start to removal: the API the engine calls.
//
//   prepare(container, request)  at create: checks and records the request; says which network
//                                 namespace config.json names (a file made at start, the host's, another's)
//   setUp(id, explain)            at start, before the runtime makes the process: namespace, address,
//                                 veth, rules, names. All or nothing: a failure tears down what was made.
//   tearDown(id, explain)         when the process is gone (stop, exit, rm -f): removes every interface,
//                                 element and lease; idempotent, and works from whatever a crash left.
//   release(id, explain)          at removal: tearDown, then the record is forgotten.
//
// The per-container record is `<root>/networks/containers/<id>.json`, written before each thing it
// names is made, so that a teardown after a kill at any point finds everything. One host-wide lock
// (/run/berth/network.lock) serialises setups and teardowns: bridges and the nft table are the
// host's, shared by every berth root.
import { mkdirSync, rmSync } from 'node:fs';
import { recordEvent } from '../events.js';
import { join } from 'node:path';
import { removeOrphanedTemps, writeFileAtomic } from '../../fs/atomic.js';
import { withLockAsync } from '../../fs/lock.js';
import { attachRuleset, detachRuleset, LIST_TABLE, parseTable, type TableState } from './firewall.js';
import { settleAll, HostCommandError, runHostCommand, runHostCommandAsync, writeSysctl, type Explain } from './host-commands.js';
import { claimHostPorts } from './host-ports.js';
import { hostsFileContent, readText, rewriteInPlace, withNameservers, type HostEntry } from './etc-hosts.js';
import { LeaseStore } from './leases.js';
import {
  bridgeLines, bridgePorts, insideLines, ipBatch, linkAlias, linkExists, netnsExists, netnsName, netnsPath, ownerAlias, vethLines, vethName,
} from './links.js';
import { NetworkError, NetworkStore, subnetOf, type NetworkRecord } from './networks.js';
import { DEFAULT_NETWORK, withExposedPorts, type NetworkRequest, type PortMapping } from './options.js';
import { readdirIfExists, readFileIfExists } from '../../fs/if-exists.js';

export const NETWORK_LOCK = '/run/berth/network.lock';
const EMPTY_TABLE: TableState = { bridges: [], subnets: [], ports: [] };
/** How long a teardown waits for the kernel to delete a namespace's veths before deleting them by name. */
const LINK_GONE_MS = 250;

/** One network interface of a container. */
export interface Endpoint {
  network: string;
  networkId: string;
  bridge: string;
  /** Host end of the veth pair. */
  veth: string;
  /** Its name inside the container: eth0, eth1... */
  ifname: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
}

/** What is made for a running container (absent when it is not running). */
export interface Attachment {
  netns: string;
  endpoints: Endpoint[];
  /** Published ports, with the host ports picked for `-p CPORT`. */
  ports: PortMapping[];
}

export interface ContainerNetworkRecord {
  id: string;
  name: string;
  hostname: string;
  hostsFile: string;
  resolvConfFile: string;
  request: NetworkRequest;
  /** Bridge mode: the networks, by name, the first one with the default route (connect/disconnect change it). */
  networks: string[];
  attachment?: Attachment;
}

/** The container's files the engine binds over /etc/hosts and /etc/resolv.conf. */
export interface ContainerIdentity {
  id: string;
  name: string;
  hostname: string;
  hostsFile: string;
  resolvConfFile: string;
}

/** What config.json's network namespace is: a path to join, none of its own (host), or a new one (none). */
export type NamespaceChoice = { kind: 'join'; path: string } | { kind: 'host' } | { kind: 'new' };

export class NetworkManager {
  readonly networks: NetworkStore;
  readonly leases: LeaseStore;
  private readonly dir: string;

  /**
   * `containerExists(id)`: whether the engine still has anything of that container, its directory
   * (stale leases and records are those of containers it does not); `resolveContainer(ref)`: a
   * name or id prefix to a container id.
   */
  constructor(
    readonly root: string,
    private readonly engine: { containerExists(id: string): boolean; resolveContainer(ref: string): string },
  ) {
    this.networks = new NetworkStore(root);
    this.leases = new LeaseStore(root, engine.containerExists);
    this.dir = join(root, 'networks', 'containers');
  }

  // ---- records ----

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  record(id: string): ContainerNetworkRecord | null {
    const text = readFileIfExists(this.file(id)); // written by rename: whole, or not there
    return text === null ? null : (JSON.parse(text) as ContainerNetworkRecord);
  }

  private save(rec: ContainerNetworkRecord): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileAtomic(this.file(rec.id), JSON.stringify(rec, null, 2) + '\n');
  }

  private records(): ContainerNetworkRecord[] {
    const names = readdirIfExists(this.dir).filter((n) => /^[0-9a-f]{64}\.json$/.test(n));
    return names.map((n) => this.record(n.slice(0, 64))).filter((r): r is ContainerNetworkRecord => r !== null);
  }

  /** Runs `fn` holding the host-wide network lock. */
  private async locked<T>(fn: () => Promise<T> | T): Promise<T> {
    mkdirSync('/run/berth', { recursive: true, mode: 0o700 });
    return withLockAsync(NETWORK_LOCK, fn);
  }

  // ---- the container's life ----

  /**
   * At create: checks the networks exist, records the request (-P expanded with the image's
   * EXPOSE), writes the files that do not change.
   */
  async prepare(container: ContainerIdentity, asked: NetworkRequest, exposed?: Record<string, unknown>): Promise<NamespaceChoice> {
    const request = withExposedPorts(asked, exposed);
    const rec: ContainerNetworkRecord = { ...container, request, networks: [] };
    let choice: NamespaceChoice;
    if (request.mode.kind === 'none') {
      choice = { kind: 'new' };
    } else if (request.mode.kind === 'host') {
      // The host's namespace: its names and resolvers are the container's (127.0.0.53 is reachable here).
      rewriteInPlace(container.hostsFile, readText('/etc/hosts') + request.extraHosts.map(([n, ip]) => `${ip}\t${n}\n`).join(''));
      rewriteInPlace(container.resolvConfFile, withNameservers(readText('/etc/resolv.conf'), request.dns));
      choice = { kind: 'host' };
    } else if (request.mode.kind === 'container') {
      const target = this.engine.resolveContainer(request.mode.container);
      const other = this.record(target);
      if (!other || other.request.mode.kind !== 'bridge') throw new NetworkError(`--network container:${request.mode.container}: that container has no network namespace of berth's to join (it runs with --network none or host)`);
      choice = { kind: 'join', path: netnsPath(target) };
    } else {
      const mode = request.mode;
      await this.locked(async () => {
        this.networks.find(mode.network);
        // A fixed host port in use fails `run` here, before the container exists; start checks again.
        const fixed = request.ports.filter((p) => p.hostPort !== 0);
        if (fixed.length) await claimHostPorts(fixed, (await readTable()) ?? EMPTY_TABLE);
      });
      rec.networks = [mode.network];
      choice = { kind: 'join', path: netnsPath(container.id) };
    }
    if (request.mode.kind !== 'host') rewriteInPlace(container.resolvConfFile, withNameservers(readText(container.resolvConfFile), request.dns));
    this.save(rec);
    return choice;
  }

  /** At start, before the process exists. Returns what was made (null: nothing to make in this mode). */
  async setUp(id: string, explain?: Explain): Promise<Attachment | null> {
    const rec = this.record(id);
    if (!rec) return null;
    if (rec.request.mode.kind === 'container') {
      const target = this.engine.resolveContainer(rec.request.mode.container);
      if (!netnsExists(netnsName(target))) throw new NetworkError(`--network container:${rec.request.mode.container}: that container is not running`);
      // Its network's names and resolvers too, as docker shares them.
      const other = this.record(target);
      if (other) {
        rewriteInPlace(rec.hostsFile, readText(other.hostsFile));
        rewriteInPlace(rec.resolvConfFile, readText(other.resolvConfFile));
      }
      return null;
    }
    if (rec.request.mode.kind !== 'bridge') return null;
    return this.locked(async () => {
      if (rec.attachment) await this.tearDownLocked(rec, explain); // left by a crash: start clean
      try {
        return await this.attach(rec, explain);
      } catch (err) {
        await this.tearDownLocked(rec, explain);
        throw err;
      }
    });
  }

  private async attach(rec: ContainerNetworkRecord, explain?: Explain): Promise<Attachment> {
    const networks = rec.networks.map((n) => this.networks.find(n));
    const ports = rec.request.ports.length ? await claimHostPorts(rec.request.ports, (await readTable()) ?? EMPTY_TABLE) : [];
    const attachment: Attachment = { netns: netnsName(rec.id), endpoints: [], ports };
    rec.attachment = attachment;
    this.save(rec); // from here on, a teardown knows the namespace and the veth names
    crashPoint('recorded');
    for (const [i, network] of networks.entries()) {
      attachment.endpoints.push(this.endpoint(rec, network, i, i === 0 ? rec.request.ip : undefined));
      this.save(rec);
    }
    forwardingOn(explain);
    // nft's transaction needs none of the links (its sets name bridges by name): it runs while ip
    // makes them. Both are waited for, whatever happens, before a failure's teardown reads the host.
    const links = this.plug(rec, attachment.endpoints.map((endpoint, i) => ({ network: networks[i], endpoint, primary: i === 0 })), true, explain);
    const rules = runHostCommandAsync(attachRuleset(networks.map((n) => ({ bridge: n.bridge, subnet: n.subnet })), attachment.endpoints[0].ip, ports), explain);
    await settleAll([links, rules]);
    crashPoint('rules');
    this.updateNames(networks);
    for (const e of attachment.endpoints) this.event('connect', e.networkId, e.network, rec.id);
    return attachment;
  }

  /** An address on the network (a lease) and the names of the veth. */
  private endpoint(rec: ContainerNetworkRecord, network: NetworkRecord, index: number, wanted?: string): Endpoint {
    const ip = this.leases.take(network, rec.id, wanted);
    crashPoint('leased'); // a lease on disk that the record does not name yet
    return {
      network: network.name,
      networkId: network.id,
      bridge: network.bridge,
      veth: vethName(rec.id, index),
      ifname: `eth${index}`,
      ip,
      prefix: subnetOf(network).prefix,
      gateway: network.gateway,
      // docker's way when none is given: 02:42 and the address, so an address always comes with one MAC.
      mac: index === 0 && rec.request.mac ? rec.request.mac : macFromAddress(ip),
    };
  }

  /**
   * Plugs endpoints in with two `ip` processes: on the host, the namespace (when new), the bridges
   * that are missing and the veth pairs; inside the namespace, lo, the addresses and the default
   * route (through the first network).
   */
  private async plug(rec: ContainerNetworkRecord, plugs: { network: NetworkRecord; endpoint: Endpoint; primary: boolean }[], newNetns: boolean, explain?: Explain): Promise<void> {
    const netns = netnsName(rec.id);
    const host = newNetns ? [`netns add ${netns}`] : [];
    const inside: string[] = [];
    const newBridges: string[] = [];
    for (const { network, endpoint: e, primary } of plugs) {
      if (!newBridges.includes(network.bridge) && this.bridgeMissing(network, explain)) {
        host.push(...bridgeLines(network.bridge, `${network.gateway}/${subnetOf(network).prefix}`, ownerAlias(this.root)));
        newBridges.push(network.bridge);
      }
      host.push(...vethLines(e.veth, netns, e.ifname, e.bridge, e.mac));
      inside.push(...insideLines(e.ifname, `${e.ip}/${e.prefix}`, primary ? e.gateway : null));
    }
    await runHostCommandAsync(ipBatch(host), explain);
    crashPoint('host-links');
    // The host's own 127.0.0.1 may reach published ports: packets from 127/8 may be routed to the bridge.
    for (const bridge of newBridges) writeSysctl(`net.ipv4.conf.${bridge}.route_localnet`, '1', explain);
    await runHostCommandAsync(ipBatch(inside, netns), explain);
  }

  /**
   * Whether the network's bridge is still to be made. One of the same name that another berth
   * root uses is an error; one no container is on is a leftover (its root gone, or a crash), and
   * goes: bridges live only while containers use them, and no setup is under way (we hold the lock).
   */
  private bridgeMissing(network: NetworkRecord, explain?: Explain): boolean {
    if (!linkExists(network.bridge)) return true;
    const owner = linkAlias(network.bridge);
    if (owner === ownerAlias(this.root)) return false;
    if (!owner.startsWith('berth:') || bridgePorts(network.bridge).length > 0) {
      throw new NetworkError(`network ${network.name}: bridge ${network.bridge} already exists and is not this berth root's (its alias: ${JSON.stringify(owner)})`);
    }
    runHostCommand({ argv: ['ip', 'link', 'delete', network.bridge] }, explain);
    return true;
  }

  /** When the process is gone. Safe to call at any time, any number of times. */
  async tearDown(id: string, explain?: Explain): Promise<void> {
    const rec = this.record(id);
    if (!rec?.attachment) return;
    await this.locked(() => this.tearDownLocked(rec, explain));
  }

  private async tearDownLocked(rec: ContainerNetworkRecord, explain?: Explain): Promise<void> {
    const attachment = rec.attachment;
    if (!attachment) return;
    // The container's veths (and any other end a crash left before the record named it), its
    // namespace, and the bridges left with no port once those veths go.
    const veths = attachment.endpoints.map((e) => e.veth);
    for (let i = attachment.endpoints.length; i < rec.networks.length; i++) veths.push(vethName(rec.id, i));
    const present = veths.filter((v) => linkExists(v));
    const networks = this.networksOf(attachment.endpoints.map((e) => e.network).concat(rec.networks));
    const gone = networks.filter((n) => bridgePorts(n.bridge).every((port) => present.includes(port))).map((n) => ({ bridge: n.bridge, subnet: n.subnet }));
    // The namespace goes first, and the veths with it: once no process holds it, the kernel deletes
    // its links, their host ends too, within a few ms and without making us wait (`link delete`
    // waits out an RCU barrier, 15-35 ms here). One `ip` batch, and nft's deletions beside it.
    const lines: string[] = [];
    if (netnsExists(attachment.netns)) lines.push(`netns delete ${attachment.netns}`);
    for (const g of gone) if (linkExists(g.bridge) && linkAlias(g.bridge) === ownerAlias(this.root)) lines.push(`link delete ${g.bridge}`);
    const links = lines.length ? runHostCommandAsync(ipBatch(lines), explain) : null;
    // The table is read only when something of it goes: ports, or a bridge's elements (or it all).
    const rules = attachment.ports.length || gone.length ? this.detachRules(attachment, gone, explain) : null;
    await settleAll([links, rules]);
    // A veth whose namespace another process still holds (one that entered it, a socket made in
    // it, a --network container: peer) stays on the host: deleted by name.
    for (const veth of await linksLeft(present)) {
      try {
        runHostCommand(ipBatch([`link delete ${veth}`]), explain);
      } catch (err) {
        if (linkExists(veth)) throw err; // else the kernel took it meanwhile
      }
    }
    for (const network of networks) this.leases.release(network, rec.id);
    for (const e of attachment.endpoints) this.event('disconnect', e.networkId, e.network, rec.id);
    delete rec.attachment;
    this.save(rec);
    this.updateNames(networks);
  }

  /** nft's part of a teardown: the container's ports, and the elements (or the table) of bridges that go. */
  private async detachRules(attachment: Attachment, gone: { bridge: string; subnet: string }[], explain?: Explain): Promise<void> {
    const table = await readTable();
    const rules = table && detachRuleset(table, attachment.endpoints.map((e) => e.ip), gone);
    if (rules) await runHostCommandAsync(rules, explain);
  }

  /** The networks of these names that still exist. */
  private networksOf(names: string[]): NetworkRecord[] {
    const out: NetworkRecord[] = [];
    for (const name of new Set(names)) {
      try {
        out.push(this.networks.find(name));
      } catch {
        // removed since
      }
    }
    return out;
  }

  /** At removal: tearDown, then the record goes. */
  async release(id: string, explain?: Explain): Promise<void> {
    await this.tearDown(id, explain);
    // A berth killed while taking an address leaves a lease its record does not name yet (even an
    // empty one, killed between create and write): the container's and the stale ones go now.
    const rec = this.record(id);
    if (rec) {
      await this.locked(async () => {
        for (const network of this.networksOf(rec.networks)) {
          this.leases.release(network, id);
          this.leases.reclaim(network);
        }
      });
    }
    rmSync(this.file(id), { force: true });
    // and the temp file of a write that a kill interrupted (src/fs/atomic.ts names them `.NAME.*`)
    for (const name of readdirIfExists(this.dir)) if (name.startsWith(`.${id}.json.`)) rmSync(join(this.dir, name), { force: true });
  }

  // ---- names ----

  /**
   * Rewrites /etc/hosts of every running container on these networks: itself, then on user
   * networks its peers by name, aliases and short id (docker gives no names on the default bridge).
   */
  private updateNames(networks: NetworkRecord[]): void {
    const changed = new Set(networks.map((n) => n.id));
    const running = this.records().filter((r) => r.attachment);
    for (const rec of running) {
      const mine = rec.attachment?.endpoints ?? [];
      if (!mine.some((e) => changed.has(e.networkId))) continue;
      const peers: HostEntry[] = [];
      for (const e of mine) {
        if (e.network === DEFAULT_NETWORK) continue;
        for (const other of running) {
          if (other.id === rec.id) continue;
          const theirs = other.attachment?.endpoints.find((o) => o.networkId === e.networkId);
          if (theirs) peers.push({ ip: theirs.ip, names: unique([other.name, ...other.request.aliases, other.id.slice(0, 12)]) });
        }
      }
      const self = mine.length ? { ip: mine[0].ip, names: unique([rec.hostname, ...(mine[0].network === DEFAULT_NETWORK ? [] : [rec.name, ...rec.request.aliases])]) } : null;
      rewriteInPlace(rec.hostsFile, hostsFileContent(self, rec.request.extraHosts, peers));
    }
  }

  // ---- what berth port, inspect and network verbs ask ----

  /** Containers with an address on the network now. */
  endpointsOn(network: NetworkRecord): { container: ContainerNetworkRecord; endpoint: Endpoint }[] {
    const out = [];
    for (const rec of this.records()) {
      for (const e of rec.attachment?.endpoints ?? []) if (e.networkId === network.id) out.push({ container: rec, endpoint: e });
    }
    return out;
  }

  async createNetwork(opts: { name: string; subnet?: string; gateway?: string; labels?: Record<string, string> }): Promise<NetworkRecord> {
    if (opts.name === DEFAULT_NETWORK) throw new NetworkError(`network with name ${DEFAULT_NETWORK} already exists (it is the default network)`);
    const network = await this.locked(() => this.networks.create(opts));
    this.event('create', network.id, network.name);
    return network;
  }

  /** docker's network events: the network's id, its name and type, and the container connected or disconnected. */
  private event(action: string, id: string, name: string, container?: string): void {
    recordEvent(this.root, 'network', action, id, { name, type: 'bridge', ...(container ? { container } : {}) });
  }

  /** A network by name or id (prefix); the default one is made on first use. */
  async findNetwork(ref: string): Promise<NetworkRecord> {
    return this.locked(() => this.networks.find(ref));
  }

  /** Every network, the default one included (made here on first use, as docker always lists it). */
  async listNetworks(): Promise<NetworkRecord[]> {
    await this.locked(() => this.networks.find(DEFAULT_NETWORK));
    return this.networks.list();
  }

  async removeNetwork(ref: string): Promise<NetworkRecord> {
    return this.locked(() => {
      const network = this.networks.find(ref);
      if (network.name === DEFAULT_NETWORK) throw new NetworkError(`${DEFAULT_NETWORK} is a pre-defined network and cannot be removed`);
      const users = this.endpointsOn(network).map((u) => u.container.name);
      if (users.length) throw new NetworkError(`error while removing network ${network.name}: it has active endpoints (${users.join(', ')})`, { kind: 'conflict' });
      this.leases.reclaim(network);
      this.leases.removeNetwork(network);
      this.networks.remove(network);
      this.event('destroy', network.id, network.name);
      return network;
    });
  }

  /** Removes every user network no running container is on; their names. */
  async pruneNetworks(): Promise<string[]> {
    await this.collectGarbage();
    const removed: string[] = [];
    for (const n of this.networks.list()) {
      if (n.name === DEFAULT_NETWORK || this.endpointsOn(n).length) continue;
      await this.removeNetwork(n.name);
      removed.push(n.name);
    }
    return removed;
  }

  /**
   * The network records of containers the engine no longer has (a `berth` killed while creating
   * one, a container directory removed by hand): whatever they still name is torn down, then they go;
   * so do the temp files of a record's writer killed before its rename.
   */
  async collectGarbage(): Promise<void> {
    for (const rec of this.records()) if (!this.engine.containerExists(rec.id)) await this.release(rec.id);
    removeOrphanedTemps(this.dir);
  }

  /** `network connect`: on the network from the next start; at once when it runs. `aliases` join the container's names (on each of its user networks). */
  async connect(networkRef: string, containerRef: string, explain?: Explain, aliases: string[] = []): Promise<void> {
    const id = this.engine.resolveContainer(containerRef);
    for (const a of aliases) if (!/^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$/.test(a)) throw new NetworkError(`alias ${a}: not a host name`);
    await this.locked(async () => {
      const rec = this.record(id);
      if (!rec || rec.request.mode.kind !== 'bridge') throw new NetworkError(`container ${containerRef} is not on a bridge network (--network none, host or container:): it cannot be connected`);
      const network = this.networks.find(networkRef);
      if (rec.networks.includes(network.name)) throw new NetworkError(`container ${rec.name} is already connected to network ${network.name}`);
      if (aliases.length && network.name === DEFAULT_NETWORK) throw new NetworkError('aliases need a user network, as in docker');
      rec.request.aliases = [...new Set([...rec.request.aliases, ...aliases])];
      rec.networks.push(network.name);
      this.save(rec);
      if (!rec.attachment) return;
      try {
        const index = rec.networks.length - 1;
        const endpoint = this.endpoint(rec, network, index);
        rec.attachment.endpoints.push(endpoint);
        this.save(rec);
        await this.plug(rec, [{ network, endpoint, primary: false }], false, explain);
        runHostCommand(attachRuleset([{ bridge: network.bridge, subnet: network.subnet }], endpoint.ip, []), explain);
        this.updateNames([network]);
        this.event('connect', network.id, network.name, rec.id);
      } catch (err) {
        await this.disconnectLocked(rec, network, explain);
        throw err;
      }
    });
  }

  /** `rename`: the container's new name is its name on its networks, in its peers' /etc/hosts at once, as in docker's DNS. */
  async renamed(id: string, name: string): Promise<void> {
    await this.locked(() => {
      const rec = this.record(id);
      if (!rec) return;
      rec.name = name;
      this.save(rec);
      if (rec.attachment) this.updateNames(rec.networks.flatMap((n) => this.networks.list().filter((net) => net.name === n)));
    });
  }

  /** `network disconnect`: off the network, at once when it runs. */
  async disconnect(networkRef: string, containerRef: string, explain?: Explain): Promise<void> {
    const id = this.engine.resolveContainer(containerRef);
    await this.locked(async () => {
      const rec = this.record(id);
      const network = this.networks.find(networkRef);
      if (!rec || !rec.networks.includes(network.name)) throw new NetworkError(`container ${containerRef} is not connected to network ${network.name}`);
      await this.disconnectLocked(rec, network, explain);
    });
  }

  private async disconnectLocked(rec: ContainerNetworkRecord, network: NetworkRecord, explain?: Explain): Promise<void> {
    const endpoint = rec.attachment?.endpoints.find((e) => e.networkId === network.id);
    if (rec.attachment && endpoint) {
      if (linkExists(endpoint.veth)) runHostCommand({ argv: ['ip', 'link', 'delete', endpoint.veth] }, explain);
      const gone = bridgePorts(network.bridge).length === 0 ? [{ bridge: network.bridge, subnet: network.subnet }] : [];
      const table = await readTable();
      const rules = table && detachRuleset({ ...table, ports: [] }, [endpoint.ip], gone);
      if (rules) runHostCommand(rules, explain);
      if (gone.length && linkExists(network.bridge)) runHostCommand({ argv: ['ip', 'link', 'delete', network.bridge] }, explain);
      this.leases.release(network, rec.id);
      rec.attachment.endpoints = rec.attachment.endpoints.filter((e) => e !== endpoint);
      this.event('disconnect', network.id, network.name, rec.id);
    }
    rec.networks = rec.networks.filter((n) => n !== network.name);
    this.save(rec);
    this.updateNames([network]);
  }
}

/**
 * Where tests kill `berth` as a crash would (BERTH_TEST_CRASH_AT=recorded|leased|host-links|rules):
 * each is a moment after something exists and before the next is recorded or made.
 */
function crashPoint(step: string): void {
  if (process.env.BERTH_TEST_CRASH_AT === step) process.kill(process.pid, 'SIGKILL');
}


function macFromAddress(ip: string): string {
  return ['02', '42', ...ip.split('.').map((n) => Number(n).toString(16).padStart(2, '0'))].join(':');
}

function unique(names: string[]): string[] {
  return [...new Set(names.filter(Boolean))];
}

/** berth's nft table as it is now; null when there is none. */
async function readTable(): Promise<TableState | null> {
  try {
    return parseTable(await runHostCommandAsync(LIST_TABLE));
  } catch (err) {
    if (err instanceof HostCommandError && /No such file or directory/.test(err.stderr)) return null;
    throw err;
  }
}

/**
 * The links of these names still there once the kernel has had time to delete them with their
 * namespace (polled: a few ms when no process holds it). The rest are there to stay.
 */
async function linksLeft(names: string[]): Promise<string[]> {
  const deadline = Date.now() + LINK_GONE_MS;
  let left = names.filter((n) => linkExists(n));
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1));
    left = left.filter((n) => linkExists(n));
  }
  return left;
}

/** Containers' traffic is routed through the host, as docker does (and leaves on). */
function forwardingOn(explain?: Explain): void {
  if (readText('/proc/sys/net/ipv4/ip_forward').trim() !== '1') writeSysctl('net.ipv4.ip_forward', '1', explain);
}
