// Prints the medians and ratios of bench/unpack.sh's rounds (one hyperfine JSON per command per
// round). Information only: a missed target never makes it fail.
//   node bench/unpack-report.mjs ROUND-FILE.json...
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const times = new Map(); // command -> [seconds by round]
const byRound = new Map(); // round -> Map(command -> seconds)
for (const file of process.argv.slice(2)) {
  const round = /^round-(-?\d+)-/.exec(basename(file))?.[1] ?? file;
  for (const r of JSON.parse(readFileSync(file, 'utf8')).results) {
    if (!times.has(r.command)) times.set(r.command, []);
    times.get(r.command).push(...r.times);
    if (!byRound.has(round)) byRound.set(round, new Map());
    byRound.get(round).set(r.command, r.times[0]);
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const w = 40;
const sec = (x) => x.toFixed(2);
console.log('');
console.log(`${'benchmark'.padEnd(w)}${'median s'.padStart(10)}${'min s'.padStart(9)}${'max s'.padStart(9)}${'runs'.padStart(6)}`);
for (const [name, ts] of times) {
  console.log(`${name.padEnd(w)}${sec(median(ts)).padStart(10)}${sec(Math.min(...ts)).padStart(9)}${sec(Math.max(...ts)).padStart(9)}${String(ts.length).padStart(6)}`);
}
const ratios = [
  ['berth (gzip) / GNU tar -xzf', 'berth applyLayer (gzip)', 'GNU tar -xzf', 1.2],
  ['berth (plain) / GNU tar -xf', 'berth applyLayer (plain)', 'GNU tar -xf', null],
];
console.log('');
console.log(`${'ratio'.padEnd(w)}${'of medians'.padStart(11)}${'median of rounds'.padStart(18)}   target (information only)`);
for (const [title, a, b, target] of ratios) {
  if (!times.has(a) || !times.has(b)) continue;
  const perRound = [...byRound.values()].filter((m) => m.has(a) && m.has(b)).map((m) => m.get(a) / m.get(b));
  console.log(`${title.padEnd(w)}${`${(median(times.get(a)) / median(times.get(b))).toFixed(2)}x`.padStart(11)}${`${median(perRound).toFixed(2)}x`.padStart(18)}   ${target ? `<= ${target}x` : '-'}`);
}
