// The cost of a container's seccomp filter inside one Node process, for PROFILE (a runtime-spec
// linux.seccomp JSON): a cold compile (every check, libseccomp, the export of the BPF) against a
// start that finds it in the on-disk cache (hash of the profile, read, verify), RUNS iterations
// each after WARMUP. Berth-runtime is a new process per command, so the cached figure is what a
// start with a known profile pays.
//   node bench/seccomp-lib.mjs PROFILE.json CACHE_DIR [RUNS] [WARMUP]
// Prints hyperfine-like JSON: { "results": [{ "command", "times": [seconds...] }, ...] }.
// Plain JS over the built dist/ (npm run build).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));
const { compileProfile, seccompFilter } = await import(join(dist, 'runtime/seccomp.js'));

const [profileFile, cacheDir, runsArg = '200', warmupArg = '20'] = process.argv.slice(2);
if (!profileFile || !cacheDir) {
  process.stderr.write('usage: node bench/seccomp-lib.mjs PROFILE.json CACHE_DIR [RUNS] [WARMUP]\n');
  process.exit(2);
}
const runs = Number(runsArg);
const warmup = Number(warmupArg);
const text = readFileSync(profileFile, 'utf8');

/** Seconds per call of `fn`; the profile is parsed anew each time, as a fresh process would. */
function time(fn) {
  for (let i = 0; i < warmup; i++) fn(JSON.parse(text));
  const times = [];
  for (let i = 0; i < runs; i++) {
    const profile = JSON.parse(text);
    const t0 = process.hrtime.bigint();
    fn(profile);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times;
}

const cold = time((profile) => compileProfile(profile, profileFile));
const cached = time((profile) => seccompFilter({ linux: { seccomp: profile } }, profileFile, cacheDir));
const filter = seccompFilter({ linux: { seccomp: JSON.parse(text) } }, profileFile, cacheDir);
process.stdout.write(
  JSON.stringify({
    summary: filter.summary,
    instructions: filter.program.length / 8,
    results: [
      { command: 'seccomp cold compile', times: cold },
      { command: 'seccomp cached load', times: cached },
    ],
  }) + '\n',
);
