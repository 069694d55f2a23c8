// Bundles each executable into one file and gives it a V8 code cache, so that a command's start is
// Node's own plus as little as possible (issue 17). Per command NAME (berth, berth-runtime):
// - dist/bin/NAME.bundle.cjs: the program, one CommonJS file (esbuild). One file instead of dozens
//   of modules (measured: ~60 ms of ~170 ms here), and CommonJS rather than ESM: Node then runs it
//   without loading its ESM loader (measured: ~10 ms of CPU less a berth-runtime run).
// - dist/bin/NAME.bundle.cjs.cache: V8's code cache of that bundle, made here by running a warm-up
//   command (scripts/code-cache.cjs), so that the functions a command runs arrive compiled instead
//   of being parsed and compiled at every start (measured: ~6 ms of CPU less a berth-runtime run).
//   Node 20 has no compile cache of its own (module.enableCompileCache is 22.1+).
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
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
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
// ${name}: runs ${name}.bundle.cjs with the V8 code cache made at build time (scripts/bundle.mjs).
const { readFileSync, statSync } = require('node:fs');
const Module = require('node:module');
const { Script } = require('node:vm');
const file = __dirname + '/${name}.bundle.cjs';
let cachedData;
try {
  if (statSync(file + '.cache').mtimeMs === statSync(file).mtimeMs) cachedData = readFileSync(file + '.cache');
} catch {}
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
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
