// Reads the hyperfine JSON files of a bench whose commands took turns, one run each per round
// (`round-<N>-<i>.json`), and prints each command's median, min and max, then for each pair A/B
// the ratio of the medians and the median of the per-round ratios (a change of load on a shared
// machine falls on both sides of a round's ratio alike). Targets are information only.
//   node bench/rounds-report.mjs '[["A","B",0.7],["C","D"]]' DIR/round-*.json
import { readFileSync } from 'node:fs';

const [pairsJson, ...files] = process.argv.slice(2);
const times = new Map();
const rounds = new Map();
for (const file of files) {
  const round = /round-(\d+)-/.exec(file)[1];
  for (const r of JSON.parse(readFileSync(file, 'utf8')).results) {
    times.set(r.command, [...(times.get(r.command) ?? []), r.times[0]]);
    rounds.set(round, { ...rounds.get(round), [r.command]: r.times[0] });
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
console.log('median s   min s   max s   runs');
for (const [name, ts] of times) console.log(`${median(ts).toFixed(3)}   ${Math.min(...ts).toFixed(3)}   ${Math.max(...ts).toFixed(3)}   ${ts.length}    ${name}`);
for (const [a, b, target] of JSON.parse(pairsJson)) {
  if (!times.has(a) || !times.has(b)) continue;
  const perRound = [...rounds.values()].filter((r) => r[a] && r[b]).map((r) => r[a] / r[b]);
  console.log(`${a} / ${b}: ${(median(times.get(a)) / median(times.get(b))).toFixed(2)}x of medians, ${median(perRound).toFixed(2)}x median of rounds${target ? ` (target <= ${target}x, information only)` : ''}`);
}
