// One berth layer unpack, as bench/unpack.sh times it: applyLayer(LAYER) into TARGET (an empty
// directory), from the compiled library. Prints the result on stderr when BENCH_VERBOSE is set.
//   node bench/unpack-driver.mjs LAYER TARGET
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const [layer, target] = process.argv.slice(2);
if (!layer || !target) {
  console.error('usage: node bench/unpack-driver.mjs LAYER TARGET');
  process.exit(2);
}
const lib = fileURLToPath(new URL('../dist/src/storage/unpack.js', import.meta.url));
const { applyLayer } = await import(lib);
const result = await applyLayer(createReadStream(layer, { highWaterMark: 1 << 20 }), target);
if (process.env.BENCH_VERBOSE) console.error(JSON.stringify(result));
