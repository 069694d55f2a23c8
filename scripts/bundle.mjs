// Bundles each executable into one file (dist/bin/*.mjs): Node then loads one module instead of
// dozens, which is most of a CLI command's start-up (measured: ~60 ms of ~170 ms here).
import { build } from 'esbuild';
import { chmodSync } from 'node:fs';

const entries = { berth: 'src/cli/berth.ts', 'berth-runtime': 'src/cli/berth-runtime.ts' };
await build({
  entryPoints: entries,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  outdir: 'dist/bin',
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
});
for (const name of Object.keys(entries)) chmodSync(`dist/bin/${name}.mjs`, 0o755);
