// Bundles each executable into one file and gives it a V8 code cache, so that a command's start is
// Node's own plus as little as possible (issue 17). Per command NAME (berth, berth-runtime):
// - dist/bin/NAME.bundle.cjs: the program, one CommonJS file (esbuild). One file instead of dozens
//   of modules (measured: ~60 ms of ~170 ms here), and CommonJS rather than ESM: Node then runs it
//   without loading its ESM loader (measured: ~10 ms of CPU less a berth-runtime run).
// - dist/bin/NAME.bundle.cjs.cache: V8's code cache of that bundle, made here by running a warm-up
//   command (scripts/code-cache.cjs), so that the functions a command runs arrive compiled instead
//   of being parsed and compiled at every start (measured: ~6 ms of CPU less a berth-runtime run).
//   Node 20 has no compile cache of its own (module.enableCompileCache is 22.1+).
// - dist/bin/NAME.bundle.cjs.KIND.cache: the cache a command of that kind (`run`, `create`,
//   `container-cleanup`) left as it exited, with the functions it really ran (the warm-up above
//   cannot run a container): the loader prefers it, and a command of a variant not yet in it (its
//   boolean flags: `run` after `run -d`) writes it again. This build removes those of the bundle
//   it replaces.
// - dist/bin/NAME.cjs: the loader: compiles the bundle with that cache (vm.Script cachedData) and
//   runs it as a CommonJS module. V8 checks that the cache fits this V8, its flags and the source
//   (and otherwise compiles from the source, as without a cache); the loader takes the cache only
//   when its mtime is the bundle's, which this script sets, so a bundle changed after the build
//   never runs with another's cache.
// - dist/bin/NAME: the command as installed: a launcher that starts Node (without
//   NODE_EXTRA_CA_CERTS, see below) on NAME.cjs.
// - dist/bin/NAME.mjs: the same program for `node dist/bin/NAME.mjs` (tests, older records).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const entries = { berth: 'src/cli/berth.ts', 'berth-runtime': 'src/cli/berth-runtime.ts' };
await build({
  entryPoints: entries,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outdir: 'dist/bin',
  outExtension: { '.js': '.bundle.cjs' },
  // The sources are ES modules: import.meta.url is the bundle's own file URL.
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: 'var __bundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  logLevel: 'warning',
});

// The commands themselves, dist/bin/berth and dist/bin/berth-runtime: launchers that start Node
// without NODE_EXTRA_CA_CERTS. Node reads and parses every certificate that file names before any
// JavaScript runs (measured: 82 ms for `node -e 0` with Debian's 220 kB bundle, 26 ms without),
// whether or not the command opens a TLS connection; berth's registry client loads them itself,
// from BERTH_EXTRA_CA_CERTS, the first time it does (src/image/registry/http.ts). Only a launcher
// reached through a symlink (npm's bin links) pays a readlink process to find its directory.
const launcher = (script) => `#!/bin/sh
if [ -n "\${NODE_EXTRA_CA_CERTS-}" ]; then
  BERTH_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export BERTH_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
self=$0
[ -L "$self" ] && self=$(readlink -f "$self")
exec node "\${self%/*}/${script}" "$@"
`;
const loader = (name) => `'use strict';
// ${name}: runs ${name}.bundle.cjs with a V8 code cache (scripts/bundle.mjs): the one its command's
// kind left beside it (${name}.bundle.cjs.KIND.cache), or else the build's (${name}.bundle.cjs.cache).
const fs = require('node:fs');
const Module = require('node:module');
const { Script } = require('node:vm');
const file = __dirname + '/${name}.bundle.cjs';
// The kinds this command line may be, from its first words (\`run\`, \`container-cleanup\`): the
// bundle says which it was once it has read them (src/cli/command-kind.ts), and only a kind named
// here gets a cache written.
const words = [];
for (const arg of process.argv.slice(2)) {
  if (/^[a-z][a-z0-9-]{0,31}$/.test(arg)) words.push(arg);
  else if (words.length) break; // words before the first one are global flags and their values
  if (words.length === 2) break;
}
const kinds = words.length === 2 ? [words.join('-'), words[0]] : words;
// A kind's cache is a line, the JSON list of the variants that made it (\`run detach\`), then V8's data.
let cachedData;
let used = { kind: undefined, variants: [] };
let bundleStat;
try {
  bundleStat = fs.statSync(file);
  for (const kind of kinds) {
    try {
      // Taken only when its mtime is the bundle's: the build and the writer below set it so.
      const cache = \`\${file}.\${kind}.cache\`;
      if (fs.statSync(cache).mtimeMs !== bundleStat.mtimeMs) continue;
      const data = fs.readFileSync(cache);
      const nl = data.indexOf(10);
      used = { kind, variants: JSON.parse(data.subarray(0, nl).toString()) };
      cachedData = data.subarray(nl + 1);
      break;
    } catch {}
  }
  if (!cachedData && fs.statSync(file + '.cache').mtimeMs === bundleStat.mtimeMs) cachedData = fs.readFileSync(file + '.cache');
} catch {}
const script = new Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, cachedData });
if (script.cachedDataRejected) used = { kind: undefined, variants: [] };
// A command that ran to success, of a variant its kind's cache was not made with, leaves that
// cache again as it exits: V8's cache of the functions this process holds compiled (those of the
// cache it started with among them), so that the next command of its kind starts with them
// compiled (as Node 22's module compile cache does). At most 16 variants a kind. V8 rejects a
// cache of another V8, flags or source length, or cut short (the build's mtime rule keeps another
// bundle's out); it does not checksum the payload in a release build, so a cache is only ever
// written whole, to a temp file renamed over it.
process.once('exit', (code) => {
  const ran = globalThis[Symbol.for('berth.command')];
  // Only beside a bundle as the build stamped it (a whole second): another mtime may not survive
  // utimes exactly, and a cache that never matched would be written again at every exit.
  if (code !== 0 || !ran || !bundleStat || bundleStat.mtimeMs % 1000 !== 0 || !kinds.includes(ran.kind)) return;
  const variants = ran.kind === used.kind ? used.variants : [];
  if (variants.includes(ran.variant) || variants.length >= 16) return;
  const cache = \`\${file}.\${ran.kind}.cache\`;
  const tmp = \`\${cache}.\${process.pid}.tmp\`;
  try {
    // A cache: where it cannot be written (a read-only dist, another user's) the next start only
    // compiles what it needs, as without one, so a failure here is no error and is not reported.
    fs.accessSync(__dirname, fs.constants.W_OK);
    const header = Buffer.from(JSON.stringify([...variants, ran.variant]) + '\\n');
    fs.writeFileSync(tmp, Buffer.concat([header, script.createCachedData()]), { flag: 'wx', mode: 0o644 });
    fs.utimesSync(tmp, bundleStat.atime, bundleStat.mtime);
    fs.renameSync(tmp, cache);
  } catch {
    try {
      fs.unlinkSync(tmp);
    } catch {}
  }
});
const bundle = new Module(file, module);
bundle.filename = file;
script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, __dirname);
`;
const esmShim = (name) => `// ${name} for \`node ${name}.mjs\`: the same program as ${name}.cjs (scripts/bundle.mjs).
import { createRequire } from 'node:module';
createRequire(import.meta.url)('./${name}.cjs');
`;
for (const name of Object.keys(entries)) {
  const file = `dist/bin/${name}.bundle.cjs`;
  // A #! line is no JavaScript inside the CommonJS wrapper; the launchers are the executables.
  writeFileSync(file, readFileSync(file, 'utf8').replace(/^#!.*\n/, ''));
  writeFileSync(`dist/bin/${name}.cjs`, loader(name));
  writeFileSync(`dist/bin/${name}.mjs`, esmShim(name));
  writeFileSync(`dist/bin/${name}`, launcher(`${name}.cjs`), { mode: 0o755 });
  chmodSync(`dist/bin/${name}`, 0o755);
  rmSync(`${file}.cache`, { force: true });
  // The caches commands left for the bundle this build replaces.
  for (const f of readdirSync('dist/bin')) if (f.startsWith(`${name}.bundle.cjs.`) && f.endsWith('.cache')) rmSync(`dist/bin/${f}`, { force: true });
}

// The code caches: each bundle runs a warm-up command that goes through what its commands have in
// common, without touching the host (berth-runtime: a container's plan by `run --dry-run` from
// its own `spec`; berth: its help), and V8's cache is taken as that process exits, with the
// functions it compiled. A warm-up that fails (not root, say) still leaves a cache of what ran; one
// that made none leaves the bundle without a cache, which only costs the compile.
const scratch = mkdtempSync('/tmp/berth-bundle-');
try {
  const env = { ...process.env, BERTH_ROOT: join(scratch, 'berth-root') };
  delete env.NODE_EXTRA_CA_CERTS;
  const bin = resolve('dist/bin');
  const warm = (name, args, cwd) => spawnSync(process.execPath, [resolve('scripts/code-cache.cjs'), `${bin}/${name}.bundle.cjs`, ...args], { cwd, env, stdio: 'ignore' });
  const bundleDir = join(scratch, 'bundle');
  mkdirSync(join(bundleDir, 'rootfs'), { recursive: true });
  spawnSync(process.execPath, [`${bin}/berth-runtime.bundle.cjs`, 'spec'], { cwd: bundleDir, env, stdio: 'ignore' });
  warm('berth-runtime', ['--root', join(scratch, 'runtime-root'), 'run', '--dry-run', 'warm-up'], bundleDir);
  warm('berth', ['--help'], scratch);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
// The bundle and its cache get the same mtime, a whole second (utimes keeps no finer a time here).
const stamp = new Date(Math.floor(Date.now() / 1000) * 1000);
for (const name of Object.keys(entries)) {
  const file = `dist/bin/${name}.bundle.cjs`;
  try {
    utimesSync(`${file}.cache`, stamp, stamp);
    utimesSync(file, stamp, stamp);
  } catch {
    console.warn(`bundle: ${file}: no code cache made; it runs without one`);
  }
}
