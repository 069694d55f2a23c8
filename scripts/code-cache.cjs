'use strict';
// Build only (scripts/bundle.mjs): runs a bundle as its loader (dist/bin/NAME.cjs) does, with the
// arguments given, and as the process exits writes V8's code cache of the bundle, with every
// function the run compiled, to BUNDLE.cache.
//   node scripts/code-cache.cjs dist/bin/NAME.bundle.cjs ARGS...
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, resolve } = require('node:path');
const { Script } = require('node:vm');

const file = resolve(process.argv[2]);
process.argv.splice(1, 2, file);
const script = new Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file });
process.on('exit', () => writeFileSync(`${file}.cache`, script.createCachedData()));
const bundle = new Module(file, module);
bundle.filename = file;
script.runInThisContext()(bundle.exports, Module.createRequire(file), bundle, file, dirname(file));
