// Times commands that take turns: each round runs every command once, in order (the first command
// of the list changes from round to round), so that a change of load on this shared machine falls
// on every side of a ratio alike. Prints per command the median, min and max wall time and the mean
// CPU time of the command and its waited-for descendants (from this process's cutime+cstime in
// /proc/self/stat: a daemon's CPU, dockerd's say, is not in it), and each asked-for ratio both as
// the ratio of the medians and as the median of the per-round ratios. A benchmark reports: a
// missed target never makes it fail; a command that fails does (exit 1, with its output).
//   node bench/alternate.mjs [--runs N] [--warmup N] [--json FILE] [--ratio 'A/B[<=T]']...
//        -n NAME 'COMMAND' [-n NAME 'COMMAND']...
// COMMAND is split like a shell's words (quotes, no expansions) and run without a shell, its
// stdio on /dev/null.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const argv = process.argv.slice(2);
let runs = 20;
let warmup = 3;
let json = null;
const ratios = [];
const commands = []; // { name, words }
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--runs') runs = Number(argv[++i]);
  else if (a === '--warmup') warmup = Number(argv[++i]);
  else if (a === '--json') json = argv[++i];
  else if (a === '--ratio') ratios.push(argv[++i]);
  else if (a === '-n') {
    commands.push({ name: argv[i + 1], words: words(argv[i + 2]) });
    i += 2;
  } else {
    console.error(`alternate: unknown argument ${a}`);
    process.exit(2);
  }
}
if (!commands.length || !(runs > 0)) {
  console.error('alternate: give at least one -n NAME COMMAND and --runs > 0');
  process.exit(2);
}

function words(line) {
  const out = [];
  let cur = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && i + 1 < line.length) {
      cur = (cur ?? '') + line[++i];
    } else if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced ${c} in: ${line}`);
      cur = (cur ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (/\s/.test(c)) {
      if (cur !== null) out.push(cur);
      cur = null;
    } else cur = (cur ?? '') + c;
  }
  if (cur !== null) out.push(cur);
  return out;
}

// utime+stime of reaped children, in clock ticks (USER_HZ, 100 a second on Linux).
function childTicks() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[13]) + Number(f[14]); // fields 16 and 17: cutime, cstime
}

function once(cmd, quiet) {
  const t0 = process.hrtime.bigint();
  const c0 = childTicks();
  const r = spawnSync(cmd.words[0], cmd.words.slice(1), { stdio: quiet ? 'ignore' : 'pipe', encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = (childTicks() - c0) * 10;
  if (r.status !== 0) {
    const out = quiet ? '' : `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    console.error(`alternate: ${cmd.name} failed (${r.error?.message ?? `status ${r.status ?? r.signal}`})${out ? `: ${out}` : ''}`);
    process.exit(1);
  }
  return { wall, cpu };
}

// Once each with the output kept: a failure says why.
for (const cmd of commands) once(cmd, false);
const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
for (let w = 0; w < warmup; w++) for (const cmd of commands) once(cmd, true);
const times = new Map(commands.map((c) => [c.name, []]));
const cpus = new Map(commands.map((c) => [c.name, 0]));
for (let r = 0; r < runs; r++) {
  for (let k = 0; k < commands.length; k++) {
    const cmd = commands[(r + k) % commands.length];
    const { wall, cpu } = once(cmd, true);
    times.get(cmd.name).push(wall);
    cpus.set(cmd.name, cpus.get(cmd.name) + cpu);
  }
}
const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const w = Math.max(...commands.map((c) => c.name.length), 10) + 2;
console.log(`load average before ${load0}, after ${load1} (${readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm).length} CPUs); ${runs} rounds after ${warmup} warm-up rounds`);
console.log(`${'command'.padEnd(w)}${'median ms'.padStart(10)}${'min'.padStart(9)}${'max'.padStart(9)}${'cpu ms'.padStart(9)}`);
const summary = {};
for (const c of commands) {
  const t = times.get(c.name);
  const s = { median: median(t), min: Math.min(...t), max: Math.max(...t), cpu: cpus.get(c.name) / runs, times: t };
  summary[c.name] = s;
  console.log(`${c.name.padEnd(w)}${s.median.toFixed(1).padStart(10)}${s.min.toFixed(1).padStart(9)}${s.max.toFixed(1).padStart(9)}${s.cpu.toFixed(1).padStart(9)}`);
}
const out = { load: [load0, load1], runs, warmup, commands: summary, ratios: {} };
for (const spec of ratios) {
  const m = /^(.+?)\/(.+?)(?:<=([\d.]+))?$/.exec(spec);
  const [a, b] = [m?.[1], m?.[2]];
  if (!m || !times.has(a) || !times.has(b)) {
    console.error(`alternate: ratio ${spec}: names not among the commands`);
    process.exit(2);
  }
  const ta = times.get(a);
  const tb = times.get(b);
  const ofMedians = median(ta) / median(tb);
  const ofRounds = median(ta.map((x, i) => x / tb[i]));
  const cpuRatio = cpus.get(b) ? cpus.get(a) / cpus.get(b) : NaN;
  const target = m[3] ? `  target ≤ ${m[3]}× (${ofMedians <= Number(m[3]) ? 'met' : 'not met'}; information only)` : '';
  console.log(`${a} / ${b}: ${ofMedians.toFixed(2)}× of medians, ${ofRounds.toFixed(2)}× median of rounds, cpu ${cpuRatio.toFixed(2)}×${target}`);
  out.ratios[spec] = { ofMedians, ofRounds, cpu: cpuRatio };
}
if (json) writeFileSync(json, JSON.stringify(out, null, 1));
