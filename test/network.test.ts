// Networking, with real bridges, veths, nft rules and traffic between this machine's own
// addresses and the test's own namespaces: names on a user network, isolation between networks,
// published TCP and UDP ports from 127.0.0.1, eth0's address and a "remote" namespace, bad input,
// and no interface, rule, lease or namespace left after 20 removals and after killed `berth`s.
// The host's network state is recorded first and compared (and restored) at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { get } from 'node:http';
import { createServer, type Server } from 'node:net';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../src/engine/engine.js';
import { exposedPorts, networkRequest, parsePublish, withExposedPorts } from '../src/engine/network/options.js';
import { parseTable } from '../src/engine/network/firewall.js';
import { networkSettings, type Attachment } from '../src/engine/network/index.js';
import { busyboxAvailable, BUSYBOX_MISSING_REASON, makeTar } from './helpers/image-fixture.js';
import { commitImage } from '../src/image/commit.js';
import { probeBinary } from './helpers/bundle.js';
import { saveHostNetwork } from './helpers/host-network.js';
import { unique, waitFor } from './helpers/run.js';

const BERTH = fileURLToPath(new URL('../bin/berth.mjs', import.meta.url));
const PROJECT = fileURLToPath(new URL('../../', import.meta.url));
const IMAGE = 'berth-test/net:1';
const nftInstalled = spawnSync('nft', ['--version']).status === 0;
const skip = !busyboxAvailable() ? BUSYBOX_MISSING_REASON : !nftInstalled ? 'nft not installed (apt-get install nftables; scripts/setup.sh does)' : false;

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

let root = '';
let engine: Engine;
let restoreHostNetwork = () => {};
let baseline: HostNetworkState;

function berth(...args: string[]): Result {
  const r = spawnSync(process.execPath, [BERTH, ...args], { env: { ...process.env, BERTH_ROOT: root }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: Result): string {
  assert.equal(r.status, 0, `exit ${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
  return r.stdout;
}

/** What of the host's networking a container could leave behind. */
interface HostNetworkState {
  links: string[];
  netns: string[];
  ruleset: string;
  iptables: string;
  sysctls: Record<string, string>;
}

function hostNetworkState(): HostNetworkState {
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1].trim().replace(/@.*/, ''))
    .sort();
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').sort() : [];
  const ruleset = execFileSync('nft', ['list', 'ruleset'], { encoding: 'utf8' });
  const iptables = execFileSync('iptables-save', { encoding: 'utf8' })
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n');
  const sysctls: Record<string, string> = {};
  for (const name of ['net/ipv4/ip_forward', 'net/ipv4/conf/all/route_localnet']) sysctls[name] = readFileSync(`/proc/sys/${name}`, 'utf8').trim();
  return { links, netns, ruleset, iptables, sysctls };
}

/** Host state, with ip_forward set aside: berth turns it on and leaves it, as docker does. */
function assertHostAsBefore(what: string): void {
  const now = hostNetworkState();
  const { sysctls: nowSysctls, ...nowRest } = now;
  const { sysctls: beforeSysctls, ...beforeRest } = baseline;
  assert.deepEqual(nowRest, beforeRest, `${what}: the host's interfaces, namespaces or rules differ`);
  assert.equal(nowSysctls['net/ipv4/conf/all/route_localnet'], beforeSysctls['net/ipv4/conf/all/route_localnet']);
}

/** Every lease file under the root (there must be none once no container runs). */
function leases(): string[] {
  const dir = join(root, 'networks', 'leases');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((net) => readdirSync(join(dir, net)).map((ip) => `${net.slice(0, 12)}/${ip}`));
}

/** eth0's IPv4 address: "the host's other address". */
function hostAddress(): string {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (/^(berth|br-|veth|btp)/.test(name)) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  throw new Error('no non-loopback IPv4 address on this host');
}

before(async () => {
  if (skip) return;
  restoreHostNetwork = saveHostNetwork();
  baseline = hostNetworkState();
  root = mkdtempSync('/tmp/berth-test-network-');
  const dir = join(root, 'image');
  execFileSync(join(PROJECT, 'scripts/busybox-bundle.sh'), [join(dir, 'bundle')], { stdio: 'ignore' });
  copyFileSync(probeBinary(), join(dir, 'bundle/rootfs/bin/probe'));
  execFileSync('tar', ['-C', join(dir, 'bundle/rootfs'), '-cf', join(dir, 'rootfs.tar'), '.']);
  ok(berth('import', join(dir, 'rootfs.tar'), IMAGE));
  rmSync(dir, { recursive: true, force: true });
  engine = new Engine(root);
});

after(async () => {
  if (skip) return;
  // Whatever a failed test left: its containers (with their networks), its networks, ip_forward.
  await removeAll();
  restoreHostNetwork();
  rmSync(root, { recursive: true, force: true });
});

/** Removes every container of the root (with its network), then the user networks: a failed test's leftovers. */
async function removeAll(): Promise<void> {
  for (const c of engine.containers.list()) await engine.remove(c.id, true).catch(() => undefined);
  for (const n of engine.network.networks.list()) if (n.name !== 'bridge') await engine.network.removeNetwork(n.name).catch(() => undefined);
}

/** A container left running in the background, made by the engine in this process. */
async function startBackground(name: string, command: string[], net: Parameters<typeof networkRequest>[0], image = IMAGE): Promise<Attachment> {
  const record = await engine.create({ image, command, env: [], hostname: '', readOnly: false, terminal: false, isolation: 'default', rm: false, name, network: networkRequest(net) });
  const attachment = await engine.network.setUp(record.id);
  const devNull = openSync('/dev/null', 'r+');
  try {
    await engine.runtime.create(record.id, { bundle: join(engine.containers.containerDir(record.id), 'bundle'), stdio: [devNull, devNull, devNull] });
  } finally {
    closeSync(devNull);
  }
  await engine.runtime.start(record.id);
  assert.ok(attachment, `${name} has no network`);
  return attachment;
}

function httpd(text: string): string[] {
  return ['sh', '-c', `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`];
}

/** GET over HTTP from this process; the body, or an error. */
function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = get({ host, port, path: '/', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

async function waitForHttp(host: string, port: number, expected: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      if ((await httpGet(host, port)).trim() === expected) return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`http://${host}:${port}/ never answered ${expected}: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A shell loop for a client container: wget until it answers (the server may still be starting).
 * `timeout`, not wget's -T: Debian's static busybox 1.35 wget crashes (SIGSEGV) with -T.
 */
function wgetLoop(url: string, tries = 10): string[] {
  return ['sh', '-c', `for i in $(seq ${tries}); do timeout 2 wget -q -O - ${url} && exit 0; sleep 0.3; done; exit 1`];
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

test('-p and the other flags: docker\'s forms parse, bad ones are one-line errors', () => {
  assert.deepEqual(parsePublish('8080:80'), { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('80'), { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' });
  assert.deepEqual(parsePublish('127.0.0.1:5353:53/udp'), { hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' });
  assert.deepEqual(parsePublish('127.0.0.1::53'), { hostIp: '127.0.0.1', hostPort: 0, containerPort: 53, protocol: 'tcp' });
  assert.deepEqual(parsePublish('0.0.0.0:1:2'), { hostIp: '', hostPort: 1, containerPort: 2, protocol: 'tcp' });
  assert.throws(() => parsePublish('99999:80'), /-p 99999:80: host port "99999" is not a port number/);
  assert.throws(() => parsePublish('80/sctp'), /protocol "sctp": use tcp or udp/);
  assert.throws(() => parsePublish('8000-8010:80'), /ranges are not supported/);
  assert.throws(() => parsePublish('a.b.c.d:1:2'), /host address "a.b.c.d" is not an IPv4 address/);
  assert.throws(() => networkRequest({ network: 'host', publish: ['80'] }), /cannot be published with --network host/);
  assert.throws(() => networkRequest({ ip: '172.17.0.9' }), /--ip: a fixed address needs a user network/);
  assert.throws(() => networkRequest({ network: 'n', mac: '01:00:00:00:00:01' }), /multicast/);
  assert.throws(() => networkRequest({ dns: ['dns.example'] }), /--dns dns.example/);
  assert.throws(() => networkRequest({ addHosts: ['nocolon'] }), /--add-host nocolon: use NAME:IP/);
  assert.deepEqual(exposedPorts({ '80/tcp': {}, '53/udp': {}, '8080': {} }).map((p) => `${p.containerPort}/${p.protocol}`).sort(), ['53/udp', '80/tcp', '8080/tcp']);
  // -P: the image's EXPOSE, less what -p already publishes.
  const request = withExposedPorts(networkRequest({ publish: ['8080:80'], publishAll: true }), { '80/tcp': {}, '443/tcp': {} });
  assert.deepEqual(request.ports.map((p) => `${p.hostPort}:${p.containerPort}`), ['8080:80', '0:443']);
});

test('network create, ls, inspect, rm: docker\'s verbs, clear errors, nothing left by a refused one', { skip }, (t) => {
  t.after(removeAll);
  const name = unique('netcli');
  const id = ok(berth('network', 'create', '--subnet', '10.213.7.0/24', '--gateway', '10.213.7.254', name)).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ls = ok(berth('network', 'ls'));
  assert.match(ls, new RegExp(`^${id.slice(0, 12)}\\s+${name}\\s+bridge\\s+10\\.213\\.7\\.0/24\\s+10\\.213\\.7\\.254$`, 'm'));
  assert.match(ls, /\sbridge\s+bridge\s+172\.\d+\.0\.0\/16\s/, 'the default network is listed');
  const [info] = JSON.parse(ok(berth('network', 'inspect', name)));
  assert.equal(info.IPAM.Config[0].Subnet, '10.213.7.0/24');
  assert.equal(info.Options['com.docker.network.bridge.name'], `br-${id.slice(0, 12)}`);

  // docker's codes: 125 when berth fails, 1 when `rm` fails for one of its arguments.
  const refused = (args: string[], message: RegExp, status = 125) => {
    const r = berth(...args);
    assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  };
  refused(['network', 'create', name], /already exists/);
  refused(['network', 'create', '--subnet', '10.213.7.128/25', unique('x')], /overlaps/);
  refused(['network', 'create', '--subnet', '10.213.8.1/24', unique('x')], /host bits set: did you mean 10\.213\.8\.0\/24/);
  refused(['network', 'create', '--subnet', '10.213.9.0/24', '--gateway', '10.213.10.1', unique('x')], /not a usable address/);
  refused(['network', 'create', 'bad/name'], /invalid network name/);
  refused(['network', 'rm', 'bridge'], /pre-defined network/, 1);
  refused(['network', 'inspect', 'nosuchnet'], /network nosuchnet not found/);
  refused(['run', '--rm', '--network', 'nosuchnet', IMAGE, 'true'], /network nosuchnet not found/);
  assert.equal(ok(berth('ps', '-aq')), '', 'a refused run leaves no container');

  assert.equal(ok(berth('network', 'rm', name)).trim(), name);
  assert.doesNotMatch(ok(berth('network', 'ls')), new RegExp(name));

  // prune: every user network no container is on (the default one stays).
  const unused = [unique('unused'), unique('unused')];
  for (const n of unused) ok(berth('network', 'create', n));
  assert.equal(ok(berth('network', 'ls', '-q')).trim().split('\n').length, 3);
  assert.equal(ok(berth('network', 'prune', '-f')), `Deleted Networks:\n${[...unused].sort().join('\n')}\n`);
  assert.equal(ok(berth('network', 'ls', '-q')).trim().split('\n').length, 1);
  assertHostAsBefore('after network verbs');
});

test('two containers on a user network reach each other by name and alias; another network cannot reach them', { skip }, async (t) => {
  t.after(removeAll);
  const netA = unique('neta');
  const netB = unique('netb');
  ok(berth('network', 'create', netA));
  ok(berth('network', 'create', netB));
  const web = unique('web');
  const webNet = await startBackground(web, httpd('hello-from-web'), { network: netA, aliases: ['www'] });
  const other = await startBackground(unique('other'), httpd('hello-from-b'), { network: netB });
  await waitForHttp(webNet.endpoints[0].ip, 80, 'hello-from-web');
  await waitForHttp(other.endpoints[0].ip, 80, 'hello-from-b');

  // By name and by alias, over HTTP, from a second container on the same network.
  assert.equal(ok(berth('run', '--rm', '--network', netA, IMAGE, ...wgetLoop(`http://${web}/`))).trim(), 'hello-from-web');
  assert.equal(ok(berth('run', '--rm', '--network', netA, IMAGE, ...wgetLoop('http://www/'))).trim(), 'hello-from-web');
  const hosts = ok(berth('run', '--rm', '--network', netA, IMAGE, 'cat', '/etc/hosts'));
  assert.match(hosts, new RegExp(`^${webNet.endpoints[0].ip.replaceAll('.', '\\.')}\\t${web} www [0-9a-f]{12}$`, 'm'));

  // From network B: its own server answers, A's does not, by address or name.
  const fromB = berth('run', '--rm', '--network', netB, IMAGE, 'sh', '-c', `timeout 3 wget -q -O - http://${other.endpoints[0].ip}/; timeout 3 wget -q -O - http://${webNet.endpoints[0].ip}/ || echo UNREACHABLE; timeout 3 wget -q -O - http://${web}/ 2>&1 || echo UNRESOLVED`);
  assert.match(fromB.stdout, /hello-from-b\nUNREACHABLE\n/, fromB.stdout + fromB.stderr);
  assert.match(fromB.stdout, /UNRESOLVED/);
  assert.doesNotMatch(fromB.stdout, /hello-from-web/);

  // connect: the B container gets a second interface on A, and reaches web by name; disconnect undoes it.
  const client = unique('client');
  await startBackground(client, ['sleep', '60'], { network: netB });
  ok(berth('network', 'connect', netA, client));
  const [info] = JSON.parse(ok(berth('network', 'inspect', netA)));
  assert.equal(Object.values(info.Containers as Record<string, { Name: string }>).filter((c) => c.Name === client).length, 1);
  const hostsOfWeb = readFileSync(join(engine.containers.containerDir(engine.containers.find(web).id), 'hosts'), 'utf8');
  assert.match(hostsOfWeb, new RegExp(`\\t${client} `), 'the new peer appears in the running container\'s /etc/hosts');
  // rename: the peers know the container by its new name at once, no longer by the old one.
  const renamed = unique('renamed');
  ok(berth('rename', client, renamed));
  const hostsAfterRename = readFileSync(join(engine.containers.containerDir(engine.containers.find(web).id), 'hosts'), 'utf8');
  assert.match(hostsAfterRename, new RegExp(`\\t${renamed} `));
  assert.doesNotMatch(hostsAfterRename, new RegExp(`\\t${client} `));
  ok(berth('rename', renamed, client));
  ok(berth('network', 'disconnect', netA, client));
  assert.doesNotMatch(readFileSync(join(engine.containers.containerDir(engine.containers.find(web).id), 'hosts'), 'utf8'), new RegExp(`\\t${client} `));

  const inUse = berth('network', 'rm', netA);
  assert.equal(inUse.status, 1);
  assert.match(inUse.stderr, /has active endpoints/);
  for (const c of engine.containers.list()) await engine.remove(c.id, true);
  ok(berth('network', 'rm', netA, netB));
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after the user-network containers were removed');
});

test('-p answers on 127.0.0.1, on eth0\'s address and from another namespace; UDP too; berth port shows them', { skip }, async (t) => {
  t.after(removeAll);
  const tcpPort = await freePort();
  const udpPort = await freePort();
  const localPort = await freePort();
  const name = unique('pub');
  const attachment = await startBackground(name, ['sh', '-c', 'probe udp-echo 9999 & mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www'], {
    publish: [`${tcpPort}:80`, `${udpPort}:9999/udp`, '80', `127.0.0.1:${localPort}:80`],
  });
  await waitForHttp(attachment.endpoints[0].ip, 80, 'published');
  assert.equal((await httpGet('127.0.0.1', tcpPort)).trim(), 'published');
  assert.equal((await httpGet(hostAddress(), tcpPort)).trim(), 'published');
  // Published on 127.0.0.1 only: there, and not on eth0's address.
  assert.equal((await httpGet('127.0.0.1', localPort)).trim(), 'published');
  await assert.rejects(httpGet(hostAddress(), localPort), /ECONNREFUSED/);
  // From another container, through the host's address; and a container to its own published port.
  assert.equal(ok(berth('run', '--rm', IMAGE, ...wgetLoop(`http://${hostAddress()}:${tcpPort}/`))).trim(), 'published');
  const selfPort = await freePort();
  const self = ok(berth('run', '--rm', '-p', `${selfPort}:80`, IMAGE, 'sh', '-c', `mkdir /www && echo myself > /www/index.html && httpd -p 80 -h /www && ${wgetLoop(`http://${hostAddress()}:${selfPort}/`, 5)[2]}`));
  assert.equal(self.trim(), 'myself');

  assert.match(ok(berth('ps', '-a')), new RegExp(`0\\.0\\.0\\.0:${tcpPort}->80/tcp, 0\\.0\\.0\\.0:${udpPort}->9999/udp, `));
  // `-p 80`: a host port of the kernel's choosing, shown by `berth port`.
  const shown = ok(berth('port', name)).trim().split('\n');
  const random = attachment.ports.find((p) => p.hostPort !== tcpPort && p.protocol === 'tcp');
  assert.ok(random && random.hostPort > 0);
  assert.deepEqual(shown, [`80/tcp -> 0.0.0.0:${tcpPort}`, `9999/udp -> 0.0.0.0:${udpPort}`, `80/tcp -> 0.0.0.0:${random.hostPort}`, `80/tcp -> 127.0.0.1:${localPort}`]);
  assert.equal((await httpGet('127.0.0.1', random.hostPort)).trim(), 'published');
  // What `berth inspect` shows, in docker's shape.
  const settings = networkSettings(engine.network.record(engine.containers.find(name).id)) as { IPAddress: string; MacAddress: string; Ports: Record<string, unknown> };
  assert.equal(settings.IPAddress, attachment.endpoints[0].ip);
  assert.equal(settings.MacAddress, `02:42:${attachment.endpoints[0].ip.split('.').map((n) => Number(n).toString(16).padStart(2, '0')).join(':')}`);
  assert.deepEqual(settings.Ports, {
    '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(tcpPort) }, { HostIp: '0.0.0.0', HostPort: String(random.hostPort) }, { HostIp: '127.0.0.1', HostPort: String(localPort) }],
    '9999/udp': [{ HostIp: '0.0.0.0', HostPort: String(udpPort) }],
  });

  // UDP: a datagram to the host port comes back from the container's echo server.
  const socket = createSocket('udp4');
  try {
    const reply = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => socket.send('ping', udpPort, '127.0.0.1'), 200);
      const deadline = setTimeout(() => {
        clearInterval(timer);
        reject(new Error('no UDP reply'));
      }, 8000);
      socket.on('message', (m) => {
        clearInterval(timer);
        clearTimeout(deadline);
        resolve(m.toString());
      });
    });
    assert.equal(reply, 'echo:ping');
  } finally {
    socket.close();
  }

  // From "another host": a namespace of the test's own, routed to this host through a veth, as a
  // remote client is (its packets go through prerouting, not output).
  const peer = `berthtest-${process.pid}`;
  const hostEnd = `btp${process.pid % 100000}`;
  try {
    execFileSync('ip', ['netns', 'add', peer]);
    execFileSync('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer]);
    execFileSync('ip', ['addr', 'add', '198.51.100.1/30', 'dev', hostEnd]);
    execFileSync('ip', ['link', 'set', hostEnd, 'up']);
    for (const args of [['link', 'set', 'lo', 'up'], ['addr', 'add', '198.51.100.2/30', 'dev', 'eth0'], ['link', 'set', 'eth0', 'up'], ['route', 'add', 'default', 'via', '198.51.100.1']]) execFileSync('ip', ['-n', peer, ...args]);
    const remote = execFileSync('ip', ['netns', 'exec', peer, 'timeout', '5', 'busybox', 'wget', '-q', '-O', '-', `http://${hostAddress()}:${tcpPort}/`], { encoding: 'utf8' });
    assert.equal(remote.trim(), 'published');
  } finally {
    spawnSync('ip', ['link', 'delete', hostEnd]);
    spawnSync('ip', ['netns', 'delete', peer]);
  }

  await engine.remove(name, true);
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after the publishing container was removed');
});

test('-P publishes the image\'s EXPOSEd ports on ports of the kernel\'s choosing', { skip }, async (t) => {
  t.after(removeAll);
  const layer = await makeTar([[{ name: 'www/', type: 'dir', mode: 0o755 }], [{ name: 'www/index.html', type: 'file', mode: 0o644 }, 'exposed\n']]);
  const image = 'berth-test/net-exposed:1';
  await commitImage(engine.images, { parent: IMAGE, layers: [{ source: layer }], config: { Cmd: ['httpd', '-f', '-p', '80', '-h', '/www'], ExposedPorts: { '80/tcp': {}, '9999/udp': {} } }, ref: image });
  const name = unique('exposed');
  const attachment = await startBackground(name, [], { publishAll: true }, image);
  assert.deepEqual(attachment.ports.map((p) => `${p.containerPort}/${p.protocol}`).sort(), ['80/tcp', '9999/udp']);
  const tcp = attachment.ports.find((p) => p.protocol === 'tcp')!;
  assert.ok(tcp.hostPort > 0);
  await waitForHttp('127.0.0.1', tcp.hostPort, 'exposed');
  assert.match(ok(berth('port', name, '80')), new RegExp(`^0\\.0\\.0\\.0:${tcp.hostPort}\n$`));
});

test('a port in use (by the host or another container) is a one-line error, with nothing made', { skip }, async (t) => {
  t.after(removeAll);
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  const busy = (server.address() as { port: number }).port;
  try {
    const r = berth('run', '--rm', '-p', `${busy}:80`, IMAGE, 'true');
    assert.equal(r.status, 125, r.stderr);
    assert.equal(r.stderr, `berth: port 0.0.0.0:${busy}/tcp is already in use on the host\n`);
  } finally {
    await new Promise((r) => server.close(r));
  }
  const port = await freePort();
  const holder = unique('holder');
  await startBackground(holder, ['sleep', '60'], { publish: [`${port}:80`] });
  const r = berth('run', '--rm', '-p', `127.0.0.1:${port}:80`, IMAGE, 'true');
  assert.equal(r.status, 125, r.stderr);
  assert.equal(r.stderr, `berth: port 127.0.0.1:${port}/tcp is already published by another container\n`);
  assert.equal(ok(berth('ps', '-aq')).trim().split('\n').length, 1, 'only the holder exists');
  await engine.remove(holder, true);
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after refused publishing');
});

test('--ip, --mac-address, --dns, --add-host, --hostname; --network none, host and container:', { skip }, async (t) => {
  t.after(removeAll);
  const net = unique('flags');
  ok(berth('network', 'create', '--subnet', '10.213.20.0/24', net));
  const out = ok(berth('run', '--rm', '--network', net, '--ip', '10.213.20.77', '--mac-address', '02:42:0a:d5:14:4d', '--dns', '10.213.20.53', '--add-host', 'db.example:10.9.8.7', '--hostname', 'box', IMAGE, 'sh', '-c', 'ip -o addr show eth0; ip link show eth0; cat /etc/resolv.conf /etc/hosts; ip route'));
  assert.match(out, /inet 10\.213\.20\.77\/24/);
  assert.match(out, /link\/ether 02:42:0a:d5:14:4d/);
  assert.match(out, /^nameserver 10\.213\.20\.53$/m);
  assert.match(out, /^10\.9\.8\.7\tdb\.example$/m);
  assert.match(out, /^10\.213\.20\.77\tbox /m);
  assert.match(out, /^default via 10\.213\.20\.1 dev eth0/m);
  const taken = await startBackground(unique('ipholder'), ['sleep', '60'], { network: net, ip: '10.213.20.9' });
  assert.equal(taken.endpoints[0].ip, '10.213.20.9');
  const clash = berth('run', '--rm', '--network', net, '--ip', '10.213.20.9', IMAGE, 'true');
  assert.equal(clash.status, 125);
  assert.match(clash.stderr, /--ip 10\.213\.20\.9: the address is already in use on network/);

  // none: lo only. host: the host's interfaces and resolv.conf.
  assert.deepEqual(ok(berth('run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'ls /sys/class/net')).trim().split(/\s+/), ['lo']);
  const host = ok(berth('run', '--rm', '--network', 'host', IMAGE, 'sh', '-c', 'ip -o addr; cat /etc/resolv.conf'));
  assert.match(host, new RegExp(`inet ${hostAddress().replaceAll('.', '\\.')}/`));
  assert.ok(host.endsWith(readFileSync('/etc/resolv.conf', 'utf8')), host);

  // container:NAME shares the other's namespace: its server on 127.0.0.1.
  const web = unique('shared');
  const attachment = await startBackground(web, httpd('from-the-shared-netns'), { network: net });
  await waitForHttp(attachment.endpoints[0].ip, 80, 'from-the-shared-netns');
  assert.equal(ok(berth('run', '--rm', '--network', `container:${web}`, IMAGE, ...wgetLoop('http://127.0.0.1/'))).trim(), 'from-the-shared-netns');
  const joined = ok(berth('run', '--rm', '--network', `container:${web}`, IMAGE, 'sh', '-c', 'cat /etc/hosts; ls /sys/class/net'));
  assert.match(joined, new RegExp(`^${attachment.endpoints[0].ip.replaceAll('.', '\\.')}\t`, 'm'), 'the other container\'s /etc/hosts');
  assert.match(joined, /^eth0$/m);
  const notRunning = berth('run', '--rm', '--network', 'container:nosuchcontainer', IMAGE, 'true');
  assert.equal(notRunning.status, 125);
  assert.equal(notRunning.stderr, 'berth: No such container: nosuchcontainer\n');

  for (const c of engine.containers.list()) await engine.remove(c.id, true);
  ok(berth('network', 'rm', net));
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after the flags');
});

test('a bridge of the same name: another root\'s in use is a clear error; an empty leftover is replaced', { skip }, async (t) => {
  t.after(removeAll);
  t.after(() => void spawnSync('ip', ['link', 'delete', 'berth0']));
  const bridge = engine.network.networks.find('bridge').bridge;
  assert.equal(bridge, 'berth0');
  // Another root's berth0 with a container on it (a veth of the test's own stands for one).
  execFileSync('ip', ['link', 'add', 'berth0', 'type', 'bridge']);
  execFileSync('ip', ['link', 'set', 'berth0', 'alias', 'berth:/var/lib/another-root']);
  execFileSync('ip', ['link', 'add', 'btpport', 'type', 'veth', 'peer', 'name', 'btpport1']);
  execFileSync('ip', ['link', 'set', 'btpport', 'master', 'berth0']);
  const refused = berth('run', '--rm', IMAGE, 'true');
  assert.equal(refused.status, 125);
  assert.equal(refused.stderr, 'berth: network bridge: bridge berth0 already exists and is not this berth root\'s (its alias: "berth:/var/lib/another-root")\n');
  assert.deepEqual(leases(), []);
  // The same, empty: a leftover, replaced by this root's.
  execFileSync('ip', ['link', 'delete', 'btpport']);
  assert.equal(ok(berth('run', '--rm', IMAGE, 'echo', 'ran')), 'ran\n');
  assertHostAsBefore('after a leftover bridge was replaced and removed');
});

test('--explain prints each network step as a line to type, setup and teardown', { skip }, (t) => {
  t.after(removeAll);
  const port = 20000 + (process.pid % 20000);
  const r = berth('run', '--rm', '--explain', '-p', `${port}:80`, IMAGE, 'true');
  assert.equal(r.status, 0, r.stderr);
  const text = r.stderr;
  for (const line of [
    /^ip -batch - <<'EOF'\nnetns add berth-[0-9a-f]{12}\nlink add berth0 type bridge\n/m,
    /^link add veth[0-9a-f]{9}0 type veth peer name eth0 address 02:42:ac:\w\w:00:02 netns berth-[0-9a-f]{12}$/m,
    /^ip -n berth-[0-9a-f]{12} -batch - <<'EOF'\nlink set lo up\naddr add 172\.\d+\.0\.2\/16 dev eth0\n/m,
    /^sysctl -w net\.ipv4\.conf\.berth0\.route_localnet=1$/m,
    new RegExp(`^create element ip berth published \\{ tcp \\. ${port} : 172\\.\\d+\\.0\\.2 \\. 80 \\}$`, 'm'),
    /^nsenter --net=\/run\/netns\/berth-[0-9a-f]{12}$/m,
    // The teardown: one `ip` batch (the namespace, with it its veth, and the bridge left with no port), then nft.
    /^ip -batch - <<'EOF'\nnetns delete berth-[0-9a-f]{12}\nlink delete berth0\nEOF$/m,
    /^nft delete table ip berth$/m,
  ]) assert.match(text, line);
  assertHostAsBefore('after an explained run');
});

/**
 * The network commands of an --explain output (each with its here-document): the first run of
 * them is the setup, before the runtime's steps; those after the container's `exec` are the teardown.
 */
function networkScripts(explained: string): { setup: string; teardown: string } {
  const lines = explained.split('\n');
  const setup: string[] = [];
  const teardown: string[] = [];
  let phase: 'setup' | 'runtime' | 'teardown' = 'setup';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith('exec ')) phase = 'teardown';
    if (!/^(ip|nft|sysctl) /.test(line)) {
      if (phase === 'setup' && setup.length) phase = 'runtime';
      continue;
    }
    if (phase === 'runtime') continue;
    const out = phase === 'setup' ? setup : teardown;
    out.push(line);
    if (line.endsWith("<<'EOF'")) {
      while (lines[++i] !== 'EOF') out.push(lines[i]);
      out.push('EOF');
    }
  }
  return { setup: setup.join('\n') + '\n', teardown: teardown.join('\n') + '\n' };
}

test('--explain\'s network lines, typed into a shell, make the same network and undo it all', { skip }, async (t) => {
  t.after(removeAll);
  const port = await freePort();
  const r = berth('run', '--rm', '--explain', '-p', `${port}:80`, IMAGE, 'true');
  assert.equal(r.status, 0, r.stderr);
  const { setup, teardown } = networkScripts(r.stderr);
  const netns = /netns add (berth-[0-9a-f]{12})/.exec(setup)?.[1];
  assert.ok(netns, setup);
  t.after(() => {
    // If an assertion failed between the two scripts: what the setup made goes anyway.
    spawnSync('sh', ['-c', teardown]);
  });
  execFileSync('sh', ['-e', '-c', setup]);
  assert.match(execFileSync('ip', ['-n', netns, '-o', '-4', 'addr', 'show', 'eth0'], { encoding: 'utf8' }), /inet 172\.\d+\.0\.2\/16/);
  assert.match(execFileSync('nft', ['list', 'map', 'ip', 'berth', 'published'], { encoding: 'utf8' }), new RegExp(`tcp \\. ${port} : 172\\.\\d+\\.0\\.2 \\. 80`));
  execFileSync('sh', ['-e', '-c', teardown]);
  // The veth goes with its namespace: the kernel deletes it a moment after `netns delete`.
  await waitFor('the namespace\'s veth to go', () => hostNetworkState().links.join() === baseline.links.join(), 5000);
  assertHostAsBefore('after the explained lines, run by hand');
});

test('a namespace another process still holds: rm -f deletes its veth by name, nothing left', { skip }, async (t) => {
  t.after(removeAll);
  const name = unique('held');
  const attachment = await startBackground(name, ['sleep', '60'], { publish: ['80'] });
  // A process on the host that entered the container's network namespace keeps it alive after
  // `netns delete`, and with it the veth the kernel would otherwise delete.
  const holder = spawn('nsenter', [`--net=/run/netns/${attachment.netns}`, 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await waitFor('nsenter to exec sleep inside', () => readFileSync(`/proc/${holder.pid}/comm`, 'utf8').trim() === 'sleep', 5000);
  ok(berth('rm', '-f', name));
  assertHostAsBefore('right after rm -f, the namespace still held');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assertHostAsBefore('once the holder is gone');
});

test('20 containers with published ports, then rm -f: no veth, bridge, rule, lease or namespace left', { skip }, async (t) => {
  t.after(removeAll);
  const names = Array.from({ length: 20 }, (_, i) => unique(`many${i}`));
  for (const name of names) await startBackground(name, ['sleep', '60'], { publish: ['80', '53/udp'] });
  const veths = hostNetworkState().links.filter((l) => l.startsWith('veth') && !baseline.links.includes(l));
  assert.equal(veths.length, 20);
  const table = parseTable(execFileSync('nft', ['-j', 'list', 'table', 'ip', 'berth'], { encoding: 'utf8' }));
  assert.equal(table.ports.length, 40);
  assert.equal(leases().length, 20);
  const r = berth('rm', '-f', ...names);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after rm -f of 20 containers');
});

test('berth killed at each step of the network setup: rm -f afterwards leaves nothing', { skip }, async (t) => {
  t.after(removeAll);
  const net = unique('crash');
  ok(berth('network', 'create', net));
  for (const step of ['recorded', 'leased', 'host-links', 'rules']) {
    const r = spawnSync(process.execPath, [BERTH, 'run', '--network', net, '-p', '80', '-p', '53/udp', IMAGE, 'true'], { env: { ...process.env, BERTH_ROOT: root, BERTH_TEST_CRASH_AT: step }, encoding: 'utf8' });
    assert.equal(r.signal, 'SIGKILL', `${step}: ${r.stderr}`);
    const ids = ok(berth('ps', '-aq', '--no-trunc')).trim().split('\n').filter(Boolean);
    assert.equal(ids.length, 1, step);
    if (step !== 'recorded') assert.ok(leases().length > 0, `${step}: a lease was taken`);
    ok(berth('rm', '-f', ...ids));
    assert.deepEqual(leases(), [], step);
    assertHostAsBefore(`after a crash at ${step} and rm -f`);
  }
  ok(berth('network', 'rm', net));
});

test('berth killed at random moments of run: rm -f afterwards leaves nothing', { skip }, async (t) => {
  t.after(removeAll);
  const delays = [40, 90, 140, 190, 240, 300, 400, 600];
  for (const delay of delays) {
    const child = spawn(process.execPath, [BERTH, 'run', '--name', unique(`killed${delay}`), '-p', '80', '-p', '53/udp', IMAGE, 'sleep', '30'], { env: { ...process.env, BERTH_ROOT: root }, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
  const ids = ok(berth('ps', '-aq', '--no-trunc')).trim().split('\n').filter(Boolean);
  if (ids.length) ok(berth('rm', '-f', ...ids));
  assert.deepEqual(leases(), []);
  // A create killed before its record leaves a directory that is no container; its network record names nothing made.
  for (const file of readdirSync(join(root, 'networks', 'containers')).filter((f) => !f.startsWith('.'))) {
    assert.equal(JSON.parse(readFileSync(join(root, 'networks', 'containers', file), 'utf8')).attachment, undefined, file);
  }
  // Once those directories go (the engine's orphan cleanup), `network prune` forgets their network records.
  for (const id of engine.containers.ids()) if (!existsSync(join(engine.containers.containerDir(id), 'container.json'))) rmSync(engine.containers.containerDir(id), { recursive: true });
  ok(berth('network', 'prune', '-f'));
  assert.deepEqual(readdirSync(join(root, 'networks', 'containers')), []);
  await waitFor('the runtime to let go of the namespaces', () => !existsSync('/run/netns') || readdirSync('/run/netns').filter((n) => n.startsWith('berth-') && !baseline.netns.includes(n)).length === 0, 5000);
  assertHostAsBefore('after killed runs and rm -f');
});

// Each container stays 3 s after printing its address, so that all eight hold theirs at once.
test('8 berth runs at once on one network: distinct addresses, all published, nothing left', { skip }, async (t) => {
  t.after(removeAll);
  const net = unique('par');
  ok(berth('network', 'create', net));
  const runs = Array.from({ length: 8 }, () => new Promise<Result>((resolve) => {
    const child = spawn(process.execPath, [BERTH, 'run', '--rm', '--network', net, '-p', '80', IMAGE, 'sh', '-c', 'ip -o -4 addr show eth0; sleep 3'], { env: { ...process.env, BERTH_ROOT: root } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    child.stderr.on('data', (c: Buffer) => (stderr += c));
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  }));
  const results = await Promise.all(runs);
  const addresses = results.map((r) => /inet (\S+)\//.exec(ok(r))?.[1]);
  assert.equal(new Set(addresses).size, 8, addresses.join(' '));
  ok(berth('network', 'rm', net));
  assert.deepEqual(leases(), []);
  assertHostAsBefore('after parallel runs');
});
