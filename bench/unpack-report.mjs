// Prints the medians and ratios of bench/unpack.sh's hyperfine JSON. Information only: a missed
// target never makes it fail.
//   node bench/unpack-report.mjs FILE.json
import { readFileSync } from 'node:fs';

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const rows = new Map();
for (const r of doc.results) {
  const s = [...r.times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  rows.set(r.command, { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1], runs: s.length });
}
const w = 40;
const sec = (x) => x.toFixed(2);
console.log('');
console.log(`${'benchmark'.padEnd(w)}${'median s'.padStart(10)}${'min s'.padStart(9)}${'max s'.padStart(9)}${'runs'.padStart(6)}`);
for (const [name, r] of rows) console.log(`${name.padEnd(w)}${sec(r.median).padStart(10)}${sec(r.min).padStart(9)}${sec(r.max).padStart(9)}${String(r.runs).padStart(6)}`);
const ratios = [
  ['berth applyLayer (gzip) / GNU tar -xzf', 'berth applyLayer (gzip)', 'GNU tar -xzf', 1.2],
  ['berth applyLayer (plain) / GNU tar -xf', 'berth applyLayer (plain)', 'GNU tar -xf', null],
];
console.log('');
console.log(`${'ratio of medians'.padEnd(w)}${'measured'.padStart(10)}   target (information only)`);
for (const [title, a, b, target] of ratios) {
  const ra = rows.get(a);
  const rb = rows.get(b);
  if (!ra || !rb) continue;
  console.log(`${title.padEnd(w)}${`${(ra.median / rb.median).toFixed(2)}x`.padStart(10)}   ${target ? `<= ${target}x` : '-'}`);
}
