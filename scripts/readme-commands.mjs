// Writes README.md's list of berth's commands from the command table (src/cli/commands.ts), the
// one the help and the completion scripts are made from: run it after `npm run build` when a
// command changes. test/cli.test.ts fails while the README's list differs from the table's.
import { readFileSync, writeFileSync } from 'node:fs';
import { COMMANDS } from '../dist/src/cli/commands.js';
import { withBuiltins } from '../dist/src/cli/dispatch.js';
import { markdownCommandList, README_BEGIN, README_END } from '../dist/src/cli/help.js';

const file = new URL('../README.md', import.meta.url);
const readme = readFileSync(file, 'utf8');
const begin = readme.indexOf(README_BEGIN);
const end = readme.indexOf(README_END);
if (begin < 0 || end < begin) throw new Error(`README.md: no ${README_BEGIN} ... ${README_END} block`);
const list = markdownCommandList(withBuiltins(COMMANDS));
writeFileSync(file, readme.slice(0, begin + README_BEGIN.length) + '\n' + list + readme.slice(end));
