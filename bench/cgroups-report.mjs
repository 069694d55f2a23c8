// Reads the JSON bench/cgroups.sh collected (hyperfine --export-json files and cgroups-lib.mjs's
// output) and prints medians, each row's ratio to the base row, and the library's phases.
// A benchmark reports, it does not judge: this never fails because a figure looks bad.
//   node bench/cgroups-report.mjs --base NAME [--title TEXT] FILE.json...
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
let base = 'crun create+delete';
let title = '';
const files = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--base') base = argv[++i];
  else if (argv[i] === '--title') title = argv[++i];
  else files.push(argv[i]);
}

const rows = new Map(); // name -> { median (s), min, max, runs, phases? }
for (const file of files) {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  for (const r of doc.results ?? [doc]) rows.set(r.command, { ...summarise(r.times), phases: r.phases });
}

function summarise(times) {
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1], runs: s.length };
}

const ms = (s) => (s * 1000).toFixed(2);
const order = [
  ['library create+destroy (empty)', 'library: create + destroy, empty cgroup'],
  ['library create+addProcess+destroy (1 process)', 'library: create + addProcess + destroy, 1 proc'],
  ['crun create+delete', 'crun create + delete --force'],
  ['runc create+delete', 'runc create + delete --force'],
  ['berth-runtime create+delete', 'berth-runtime create + delete --force'],
  ['node -e 0', 'reference: node -e 0 (one Node start)'],
  ['sh -c true', 'reference: sh -c true (the pairs\' wrapper)'],
];
const reference = new Set(['node -e 0', 'sh -c true']);
const b = rows.get(base);

const w = 50;
console.log('');
if (title) console.log(`== ${title}`);
console.log(`${'benchmark'.padEnd(w)}${'median ms'.padStart(11)}${'min ms'.padStart(10)}${'max ms'.padStart(10)}${'runs'.padStart(6)}   ${`× ${base.split(' ')[0]}`}`);
for (const [name, label] of order) {
  const r = rows.get(name);
  if (!r) {
    console.log(`${label.padEnd(w)}${'n/a'.padStart(11)}`);
    continue;
  }
  const ratio = b && !reference.has(name) ? `${(r.median / b.median).toFixed(2)}×` : '';
  console.log(`${label.padEnd(w)}${ms(r.median).padStart(11)}${ms(r.min).padStart(10)}${ms(r.max).padStart(10)}${String(r.runs).padStart(6)}   ${ratio}`);
}

// Where the library's time goes (medians of each phase, so they need not add up to the total's).
for (const [name] of order.slice(0, 2)) {
  const p = rows.get(name)?.phases;
  if (!p) continue;
  const parts = [`create ${ms(p.create)}`];
  if (name.includes('addProcess')) parts.push(`addProcess ${ms(p.add)}`);
  parts.push(`destroy ${ms(p.destroy)}`);
  console.log(`  ${name.startsWith('library create+destroy') ? 'empty' : '1 process'}: phase medians, ms: ${parts.join(', ')}`);
}

const ratio = (a, c) => (rows.get(a) && rows.get(c) ? `${(rows.get(a).median / rows.get(c).median).toFixed(2)}×` : 'n/a');
console.log('');
console.log('ratios of medians');
const lines = [
  ['library setup+teardown (empty) / ' + base, 'library create+destroy (empty)', base],
  ['library setup+teardown (1 process) / ' + base, 'library create+addProcess+destroy (1 process)', base],
  ['berth-runtime create+delete / ' + base, 'berth-runtime create+delete', base],
];
for (const other of ['crun create+delete', 'runc create+delete']) {
  if (other !== base) lines.push([`berth-runtime create+delete / ${other}`, 'berth-runtime create+delete', other], [`${other} / ${base}`, other, base]);
}
for (const [label, a, c] of lines) console.log(`  ${label.padEnd(w + 4)}${ratio(a, c).padStart(9)}`);
const br = rows.get('berth-runtime create+delete');
const node = rows.get('node -e 0');
if (br && node) console.log(`\nberth-runtime create+delete minus two Node starts (2 × node -e 0): ${ms(br.median - 2 * node.median)} ms`);
