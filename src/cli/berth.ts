#!/usr/bin/env node
// berth: the docker-like engine. Images in (pull, load, import), containers out (run), and the
// daily verbs around them, with docker's flags, output and exit statuses. The commands are the
// rows of one table (commands.ts); dispatch.ts reads a command line against it.
import { COMMANDS } from './commands.js';
import { main, withBuiltins } from './dispatch.js';

// Not a top-level await: the bundle is CommonJS (scripts/bundle.mjs).
void main(withBuiltins(COMMANDS), process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
