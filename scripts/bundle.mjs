// Bundles each executable into one file (dist/bin/*.mjs): Node then loads one module instead of
// dozens, which is most of a CLI command's start-up (measured: ~60 ms of ~170 ms here).
import { build } from 'esbuild';
import { chmodSync, writeFileSync } from 'node:fs';

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
// The commands themselves, dist/bin/berth and dist/bin/berth-runtime: launchers that start Node
// without NODE_EXTRA_CA_CERTS. Node reads and parses every certificate that file names before any
// JavaScript runs (measured: 82 ms for `node -e 0` with Debian's 220 kB bundle, 26 ms without),
// whether or not the command opens a TLS connection; berth's registry client loads them itself,
// from BERTH_EXTRA_CA_CERTS, the first time it does (src/image/registry/http.ts).
const launcher = (script) => `#!/bin/sh
if [ -n "\${NODE_EXTRA_CA_CERTS-}" ]; then
  BERTH_EXTRA_CA_CERTS=$NODE_EXTRA_CA_CERTS
  export BERTH_EXTRA_CA_CERTS
  unset NODE_EXTRA_CA_CERTS
fi
self=$(readlink -f "$0")
exec node "\${self%/*}/${script}" "$@"
`;
for (const name of Object.keys(entries)) {
  chmodSync(`dist/bin/${name}.mjs`, 0o755);
  writeFileSync(`dist/bin/${name}`, launcher(`${name}.mjs`), { mode: 0o755 });
}
