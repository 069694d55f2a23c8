// Reads the JSON that bench/runtime.sh collected (hyperfine --export-json files and lib-spawn.mjs's
// output) and prints medians and ratios. Targets are printed as information: a benchmark reports,
// it does not judge, so this never fails because a target is missed.
//   node bench/report.mjs FILE.json...
import { readFileSync } from 'node:fs';

const rows = new Map(); // name -> { median (s), min, max, runs }
for (const file of process.argv.slice(2)) {
  const doc = JSON.parse(readFileSync(file, 'utf8'));
  if (doc.commands) {
    // bench/alternate.mjs's output: milliseconds per command
    for (const [name, r] of Object.entries(doc.commands)) rows.set(name, summarise(r.times.map((t) => t / 1000)));
    continue;
  }
  for (const r of doc.results ?? [doc]) rows.set(r.command, summarise(r.times));
}

function summarise(times) {
  const s = [...times].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1], runs: s.length };
}

const ms = (s) => (s * 1000).toFixed(2);
const order = ['berth-runtime run', 'runc run', 'berth-runtime run (ns)', 'crun run (ns)', 'node -e 0', 'library spawnPlan→exit /bin/true', 'unshare floor'];
const label = {
  'berth-runtime run': 'berth-runtime run',
  'berth-runtime run (ns)': 'berth-runtime run (nsenter, v1 only)',
  'crun run (ns)': 'crun run (nsenter, v1 only)',
  'runc run': 'runc run',
  'node -e 0': 'node -e 0 (Node start, reference)',
  'library spawnPlan→exit /bin/true': 'library spawnPlan→exit (in-process)',
  'unshare floor': 'kernel floor: unshare -m -u -i -n -p -f true',
};

const w = 46;
console.log('');
console.log(`${'benchmark'.padEnd(w)}${'median ms'.padStart(11)}${'min ms'.padStart(10)}${'max ms'.padStart(10)}${'runs'.padStart(6)}`);
for (const name of order) {
  const r = rows.get(name);
  if (!r) {
    console.log(`${label[name].padEnd(w)}${'n/a'.padStart(11)}`);
    continue;
  }
  console.log(`${label[name].padEnd(w)}${ms(r.median).padStart(11)}${ms(r.min).padStart(10)}${ms(r.max).padStart(10)}${String(r.runs).padStart(6)}`);
}

const ratios = [
  ['berth-runtime run / crun run (both in the ns)', 'berth-runtime run (ns)', 'crun run (ns)', 3.5],
  ['berth-runtime run / runc run', 'berth-runtime run', 'runc run', 2.5],
  ['library spawn→exit / unshare floor', 'library spawnPlan→exit /bin/true', 'unshare floor', 2.5],
];
console.log('');
console.log(`${'ratio of medians'.padEnd(w)}${'measured'.padStart(11)}   target (information only)`);
for (const [title, a, b, target] of ratios) {
  const ra = rows.get(a);
  const rb = rows.get(b);
  const value = ra && rb ? ra.median / rb.median : null;
  const shown = value === null ? 'n/a' : `${value.toFixed(2)}×`;
  let note = '—';
  if (target !== null) note = `≤ ${target}×` + (value === null ? '' : value <= target ? '  (within)' : '  (above)');
  console.log(`${title.padEnd(w)}${shown.padStart(11)}   ${note}`);
}
const br = rows.get('berth-runtime run');
const node = rows.get('node -e 0');
if (br && node) console.log(`\nberth-runtime run minus Node's own start: ${ms(br.median - node.median)} ms`);
