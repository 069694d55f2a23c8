// The library's spawn→exit, in one Node process: build the plan for BUNDLE once, then time RUNS
// iterations of spawnPlan(plan) + process.watch() until the container's process has exited.
// No new node per iteration, so Node's start is not in the figure.
//   node bench/lib-spawn.mjs BUNDLE [RUNS] [WARMUP]
// Prints JSON: { "command": ..., "times": [seconds...], "median": seconds } (hyperfine's units).
// Plain JS over the built dist/ (npx tsc -p .), so it runs without a build step of its own.
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/src/', import.meta.url));
const { buildPlan } = await import(join(dist, 'runtime/build-plan.js'));
const { spawnPlan } = await import(join(dist, 'kernel/spawn.js'));
const { parseSpec } = await import(join(dist, 'runtime/spec.js'));

const [bundleArg, runsArg = '30', warmupArg = '3'] = process.argv.slice(2);
if (!bundleArg) {
  process.stderr.write('usage: node bench/lib-spawn.mjs BUNDLE [RUNS] [WARMUP]\n');
  process.exit(2);
}
const runs = Number(runsArg);
const warmup = Number(warmupArg);
const bundle = resolve(bundleArg);
const configPath = join(bundle, 'config.json');
const spec = parseSpec(readFileSync(configPath, 'utf8'), configPath);
const rootfs = isAbsolute(spec.root.path) ? spec.root.path : resolve(bundle, spec.root.path);
if (!statSync(rootfs).isDirectory()) throw new Error(`${rootfs}: not a directory`);

// The container's stdio is /dev/null, as hyperfine gives the whole-process commands.
const devNull = openSync('/dev/null', 'r+');
const plan = buildPlan(spec, { bundle, rootfs, stdio: [devNull, devNull, devNull] });

async function once() {
  const t0 = process.hrtime.bigint();
  const { process: child } = await spawnPlan(plan);
  const status = await child.watch();
  const t1 = process.hrtime.bigint();
  if (!status || status.code !== 0) {
    throw new Error(`container process ended with ${JSON.stringify(status)}, expected exit 0`);
  }
  return Number(t1 - t0) / 1e9;
}

try {
  for (let i = 0; i < warmup; i++) await once();
  const times = [];
  for (let i = 0; i < runs; i++) times.push(await once());
  const sorted = [...times].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  process.stdout.write(JSON.stringify({ command: 'library spawnPlan→exit /bin/true', times, median }) + '\n');
} finally {
  closeSync(devNull);
}
