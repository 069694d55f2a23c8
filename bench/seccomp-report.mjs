// Reads bench/seccomp.sh's JSON (hyperfine --export-json files and seccomp-lib.mjs's output) and
// prints medians and ratios. A benchmark reports, it does not judge: nothing here fails on a number.
//   node bench/seccomp-report.mjs FILE.json...
import { readFileSync } from 'node:fs';

const rows = new Map();
let profile = null;
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  if (doc.summary) profile = `${doc.summary}; ${doc.instructions} BPF instructions`;
  for (const r of doc.results) rows.set(r.command, median(r.times));
}

function median(times) {
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, runs: s.length };
}

const w = 44;
const ms = (s) => (s * 1000).toFixed(3);
console.log('');
if (profile) console.log(`profile: ${profile}`);
console.log(`${'benchmark'.padEnd(w)}${'median ms'.padStart(12)}${'runs'.padStart(7)}`);
const order = ['berth-runtime plain', 'berth-runtime filtered', 'crun plain', 'crun filtered', 'runc plain', 'runc filtered', 'seccomp cold compile', 'seccomp cached load'];
for (const name of order) {
  const r = rows.get(name);
  console.log(`${name.padEnd(w)}${(r ? ms(r.median) : 'n/a').padStart(12)}${(r ? String(r.runs) : '').padStart(7)}`);
}

const ratio = (a, b) => (rows.get(a) && rows.get(b) ? rows.get(a).median / rows.get(b).median : null);
const cost = (a, b) => (rows.get(a) && rows.get(b) ? ms(rows.get(a).median - rows.get(b).median) + ' ms' : 'n/a');
console.log('');
console.log(`${'ratio of medians'.padEnd(w)}${'measured'.padStart(12)}   note`);
const lines = [
  ['berth-runtime: filtered / plain', 'berth-runtime filtered', 'berth-runtime plain', `the filter costs ${cost('berth-runtime filtered', 'berth-runtime plain')}`],
  ['crun: filtered / plain', 'crun filtered', 'crun plain', `the filter costs ${cost('crun filtered', 'crun plain')}`],
  ['runc: filtered / plain', 'runc filtered', 'runc plain', `the filter costs ${cost('runc filtered', 'runc plain')}`],
  ['berth-runtime / crun, both filtered', 'berth-runtime filtered', 'crun filtered', ''],
  ['berth-runtime / runc, both filtered', 'berth-runtime filtered', 'runc filtered', ''],
  ['cold compile / cached load', 'seccomp cold compile', 'seccomp cached load', `a cached load: ${rows.get('seccomp cached load') ? ms(rows.get('seccomp cached load').median) : 'n/a'} ms (target: well under 1 ms)`],
];
for (const [title, a, b, note] of lines) {
  const value = ratio(a, b);
  console.log(`${title.padEnd(w)}${(value === null ? 'n/a' : `${value.toFixed(2)}×`).padStart(12)}   ${note}`);
}
