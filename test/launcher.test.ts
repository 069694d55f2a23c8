// The commands' launchers (dist/bin/berth, dist/bin/berth-runtime) start Node without
// NODE_EXTRA_CA_CERTS, which Node would otherwise read and parse at every start; the registry
// client then loads those CAs itself (BERTH_EXTRA_CA_CERTS) at its first verified https
// connection. Proved with a real TLS server on 127.0.0.1 whose certificate only that file trusts.
// And the launchers run their bundle through a loader that compiles it with the code cache the
// build made, or the one a command of the same kind left as it exited (scripts/bundle.mjs).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT } from './helpers/berth-cli.js';

const HTTP_MODULE = fileURLToPath(new URL('../src/image/registry/http.js', import.meta.url));

function scratch(t: TestContext): string {
  const dir = mkdtempSync('/tmp/berth-test-launcher-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the launchers start Node without NODE_EXTRA_CA_CERTS: nothing is read at start (where node reads it at every start, it warns about a missing file; the launcher does not)', (t) => {
  const missing = join(scratch(t), 'no-such-bundle.pem');
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: missing };
  const direct = spawnSync(process.execPath, [join(PROJECT, 'dist/bin/berth.mjs'), 'version'], { env, encoding: 'utf8' });
  // Node 20 reads the file at every start; Node 24.21 only at its first TLS context, so there the
  // launcher saves nothing at start, and only its own silence below is checked.
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor <= 20) assert.match(direct.stderr, /extra certs/i, 'node reads NODE_EXTRA_CA_CERTS at start');
  else t.diagnostic(`node ${process.version} ${/extra certs/i.test(direct.stderr) ? 'reads' : 'does not read'} NODE_EXTRA_CA_CERTS at start`);
  for (const command of ['berth', 'berth-runtime']) {
    const launched = spawnSync(join(PROJECT, 'dist/bin', command), ['--version'], { env, encoding: 'utf8' });
    assert.equal(launched.status, 0, launched.stderr);
    assert.equal(launched.stderr, '', `${command}: no certificate was read at start`);
  }
});

test('the registry client trusts BERTH_EXTRA_CA_CERTS at its first verified https connection, and only then', async (t) => {
  const dir = scratch(t);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const server = createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => res.end('trusted'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const client = `import { send, readBody } from ${JSON.stringify(HTTP_MODULE)};
    try { const r = await send({ method: 'GET', url: new URL(${JSON.stringify(url)}), headers: {} }); process.stdout.write((await readBody(r)).toString()); }
    catch (err) { process.stdout.write('failed: ' + err.message); }`;
  // A fresh process each time, as a command is (the agent is made once per process); spawned
  // asynchronously, since the server answers from this process.
  const run = (extra: Record<string, string>) =>
    new Promise<string>((resolve) => {
      const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
      delete env.NODE_EXTRA_CA_CERTS;
      const child = spawn(process.execPath, ['--input-type=module', '-e', client], { env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', () => resolve(out));
    });
  assert.match(await run({}), /^failed: .*self[- ]signed/i, 'an unknown CA is refused');
  assert.equal(await run({ BERTH_EXTRA_CA_CERTS: cert }), 'trusted');
  assert.match(await run({ BERTH_EXTRA_CA_CERTS: join(dir, 'missing.pem') }), /^failed: BERTH_EXTRA_CA_CERTS \(NODE_EXTRA_CA_CERTS\): cannot read .*missing\.pem: ENOENT/);
});

test('the commands run their bundle through a loader with a V8 code cache that this node accepts, and exit with the command\'s status', (t) => {
  for (const name of ['berth', 'berth-runtime']) {
    const bundle = join(PROJECT, 'dist/bin', `${name}.bundle.cjs`);
    // The loader takes the cache only when its mtime is the bundle's (the build sets it so).
    assert.equal(statSync(`${bundle}.cache`).mtimeMs, statSync(bundle).mtimeMs, `${name}: the cache is the bundle's`);
    // Compiled as the loader compiles it: V8 says whether it took the cache (its version, flags, source).
    const probe = `const { readFileSync } = require('node:fs'); const Module = require('node:module'); const { Script } = require('node:vm');
      const file = ${JSON.stringify(bundle)};
      process.stdout.write(String(new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData: readFileSync(file + '.cache') }).cachedDataRejected));`;
    const rejected = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
    assert.equal(rejected.stdout, 'false', `${name}: V8 rejected the code cache ${rejected.stderr}`);
    const loader = readFileSync(join(PROJECT, 'dist/bin', name), 'utf8');
    assert.match(loader, new RegExp(`exec node "\\$\\{self%/\\*\\}/${name}\\.cjs" "\\$@"`), `${name}: the launcher runs the loader`);
  }
  // A command's exit status comes through the loader (no top-level await in a CommonJS bundle).
  const failed = spawnSync(join(PROJECT, 'dist/bin/berth-runtime'), ['--root', scratch(t), 'state', 'no-such'], { encoding: 'utf8' });
  assert.equal(failed.status, 1, failed.stderr);
  assert.match(failed.stderr, /no-such/);
  const usage = spawnSync(join(PROJECT, 'dist/bin/berth'), ['no-such-command'], { encoding: 'utf8' });
  assert.notEqual(usage.status, 0, usage.stderr);
});

test('a command that sends no request and reads no layer loads none of http, https, tls, zlib and worker_threads (berth-runtime: nor child_process, dgram)', (t) => {
  // Node's list of the built-in modules it loaded, printed as the command exits.
  const probe = join(scratch(t), 'modules.cjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write('\\n' + JSON.stringify(process.moduleLoadList)));\n");
  const root = scratch(t);
  for (const [bundle, args] of [['berth.cjs', ['ps', '-a']], ['berth-runtime.cjs', ['--root', root, 'list']]] as const) {
    const r = spawnSync(process.execPath, ['--require', probe, join(PROJECT, 'dist/bin', bundle), ...args], { encoding: 'utf8', env: { ...process.env, BERTH_ROOT: root } });
    assert.equal(r.status, 0, r.stderr);
    const loaded = JSON.parse(r.stderr.slice(r.stderr.lastIndexOf('\n') + 1)) as string[];
    // berth-runtime loads node:child_process (and the dgram it loads) only to run hooks or ps.
    const unused = ['http', 'https', 'tls', 'zlib', 'worker_threads', ...(bundle === 'berth-runtime.cjs' ? ['child_process', 'dgram'] : [])];
    for (const name of unused) assert.ok(!loaded.includes(`NativeModule ${name}`), `${bundle} ${args[0]} loaded node:${name}`);
  }
});

test('a command leaves a code cache for its kind as it exits, which V8 accepts and the next one takes; never where it failed, could not write or found it rejected', (t) => {
  // A copy of the bundle, its loader and the build's cache, mtimes kept (build/ is found up from it).
  const dir = scratch(t);
  const bin = join(dir, 'dist/bin');
  mkdirSync(bin, { recursive: true });
  for (const f of ['berth.cjs', 'berth.bundle.cjs', 'berth.bundle.cjs.cache']) cpSync(join(PROJECT, 'dist/bin', f), join(bin, f), { preserveTimestamps: true });
  symlinkSync(join(PROJECT, 'build'), join(dir, 'build'));
  const env = { ...process.env, BERTH_ROOT: join(dir, 'root') };
  const berth = (...args: string[]) => spawnSync(process.execPath, [join(bin, 'berth.cjs'), ...args], { encoding: 'utf8', env });
  const bundle = join(bin, 'berth.bundle.cjs');
  const cache = `${bundle}.ps.cache`;
  /** The variants named in the cache's first line; V8 must take the rest as the bundle's cache. */
  const variantsOf = (file: string) => {
    const data = readFileSync(file);
    const nl = data.indexOf(10);
    assert.equal(statSync(file).mtimeMs, statSync(bundle).mtimeMs, `${file}: the cache has the bundle's mtime`);
    const probe = `const { readFileSync } = require('node:fs'); const Module = require('node:module'); const { Script } = require('node:vm');
      const data = readFileSync(${JSON.stringify(file)}); const file = ${JSON.stringify(bundle)};
      process.stdout.write(String(new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData: data.subarray(data.indexOf(10) + 1) }).cachedDataRejected));`;
    assert.equal(spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' }).stdout, 'false', `${file}: V8 rejected it`);
    return JSON.parse(data.subarray(0, nl).toString()) as string[];
  };
  const ok = (r: ReturnType<typeof berth>, heading = /^CONTAINER ID/) => {
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, heading);
  };

  ok(berth('ps'));
  assert.deepEqual(variantsOf(cache), ['ps']);
  const first = statSync(cache);
  ok(berth('ps'));
  assert.equal(statSync(cache).ino, first.ino, 'the same variant again: the cache stays as it was');
  ok(berth('ps', '-a'));
  assert.deepEqual(variantsOf(cache), ['ps', 'ps all'], 'another variant: the cache is made again, with both');
  // A failed command leaves none (nor does a word that is no command).
  assert.notEqual(berth('inspect', 'no-such').status, 0);
  assert.notEqual(berth('no-such-command').status, 0);
  assert.deepEqual(readdirSync(bin).filter((f) => f.endsWith('.cache')).sort(), ['berth.bundle.cjs.cache', 'berth.bundle.cjs.ps.cache']);

  // A cache V8 rejects (cut short, its mtime kept): the command compiles without it and writes it anew.
  const whole = readFileSync(cache);
  writeFileSync(cache, whole.subarray(0, whole.length >> 1));
  utimes(cache, first.mtime);
  ok(berth('ps', '-a'));
  assert.deepEqual(variantsOf(cache), ['ps all'], 'the rejected cache was replaced');
  // One of another bundle (another mtime) is not taken, and is replaced.
  utimes(cache, new Date(first.mtimeMs - 1000));
  ok(berth('ps'));
  assert.deepEqual(variantsOf(cache), ['ps']);

  // A directory it cannot write (a read-only mount): the command works and says nothing, no file is left.
  execFileSync('mount', ['--bind', bin, bin]);
  try {
    execFileSync('mount', ['-o', 'remount,bind,ro', bin]);
    ok(berth('images'), /^REPOSITORY/);
    ok(berth('ps', '-a'));
  } finally {
    execFileSync('umount', [bin]);
  }
  assert.deepEqual(readdirSync(bin).sort(), ['berth.bundle.cjs', 'berth.bundle.cjs.cache', 'berth.bundle.cjs.ps.cache', 'berth.cjs']);
  assert.ok(!existsSync(join(bin, 'berth.bundle.cjs.images.cache')));
});

function utimes(file: string, mtime: Date): void {
  spawnSync('touch', ['-m', '-d', `@${mtime.getTime() / 1000}`, file]);
}
