#!/bin/bash
# berth's layer applier against GNU tar on the same large gzip layer (>= 200 MB compressed, tens
# of thousands of files), each run into a fresh empty directory; prints medians and the ratio.
#   bash bench/unpack.sh                 (as root, after `npx tsc -p .` and the native build)
#   RUNS=10 PLAIN=1 bash bench/unpack.sh (PLAIN=1 adds the uncompressed layer: berth vs tar -xf)
# (RUNS rounds after WARMUP untimed ones; in each round every command runs once, in turn.)
# The layer is built once from this machine's /usr and kept in $BENCH_CACHE (default
# /tmp/berth-bench-unpack-cache); delete it to rebuild. A benchmark reports, it does not judge:
# it exits non-zero only when something could not be measured.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
PLAIN=${PLAIN:-0}
NODE=${NODE:-node}
CACHE=${BENCH_CACHE:-/tmp/berth-bench-unpack-cache}
MIN_BYTES=$((200 * 1000 * 1000))

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (the layer has devices and owners to restore)"
[ -f "$here/dist/src/storage/unpack.js" ] || die "dist/src/storage/unpack.js missing: build first (npx tsc -p .)"
for tool in hyperfine tar gzip "$NODE"; do command -v "$tool" >/dev/null || die "$tool not found"; done

# --- the layer, built once: /usr/share and friends, gzip -6 as docker compresses layers ----------
layer=$CACHE/layer.tar.gz
plain=$CACHE/layer.tar
if [ ! -s "$layer" ] || [ "$(stat -c %s "$layer")" -lt $MIN_BYTES ]; then
  mkdir -p "$CACHE"
  echo "bench: building the layer in $CACHE (once; takes a minute or two)"
  dirs=()
  for d in usr/share usr/include usr/lib/python3 usr/lib/python3.11 usr/lib/gcc usr/lib/x86_64-linux-gnu; do
    [ -d "/$d" ] && dirs+=("$d")
    [ ${#dirs[@]} -gt 0 ] || continue
    # stop adding once the uncompressed size is enough for >= 200 MB of gzip
    [ "$(du -scb "${dirs[@]/#//}" | tail -1 | cut -f1)" -gt $((700 * 1000 * 1000)) ] && break
  done
  tar --format=pax --xattrs -C / -cf - "${dirs[@]}" 2>/dev/null | gzip -6 >"$layer.tmp"
  mv "$layer.tmp" "$layer"
  rm -f "$plain"
fi
size=$(stat -c %s "$layer")
[ "$size" -ge $MIN_BYTES ] || die "the layer is only $size bytes (this machine's /usr is small)"
if [ "$PLAIN" = 1 ] && [ ! -s "$plain" ]; then gzip -dc "$layer" >"$plain.tmp" && mv "$plain.tmp" "$plain"; fi

work=$(mktemp -d /tmp/berth-bench-unpack.XXXXXX)
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
t=$work/target

entries=$(gzip -dc "$layer" | tar -tf - | wc -l)
echo "bench: $(uname -r), node $("$NODE" --version), $(tar --version | head -1), $(hyperfine --version)"
echo "bench: layer $layer: $((size / 1000000)) MB gzip, $entries entries; $RUNS rounds after $WARMUP warm-up round(s)"

# --- one run of berth first with its output shown (hyperfine hides why a command fails) ----------
mkdir -p "$t"
BENCH_VERBOSE=1 "$NODE" "$here/bench/unpack-driver.mjs" "$layer" "$t" || die "berth's unpack failed"
# the trees must be the same as tar's (owners, modes, sizes, links, times; directories' times aside:
# the parents missing from the archive, like usr/, are made when met, at different instants)
mkdir -p "$work/by-tar"
tar -xzf "$layer" -C "$work/by-tar"
listing() { (cd "$1" && find . -mindepth 1 \( -type d -printf '%p %y %m %u %g\n' \) -o -printf '%p %y %m %u %g %s %n %l %T@\n' | sort); }
if ! diff <(listing "$t") <(listing "$work/by-tar") >"$work/tree.diff"; then
  head -20 "$work/tree.diff" >&2
  die "berth's tree differs from GNU tar's"
fi
rm -rf "$t" "$work/by-tar"

# A fresh target each run; `sync` first so that the writeback of one run is not charged to the
# next. The commands take turns (berth, tar, berth, tar...), one hyperfine run each, rather than
# all of one then all of the other: on a shared machine the load changes within minutes, and
# taking turns puts both sides of each ratio in the same conditions (the report also gives the
# median of the per-round ratios).
prepare="rm -rf $t && mkdir $t && sync"
names=('berth applyLayer (gzip)' 'GNU tar -xzf')
commands=("$NODE $here/bench/unpack-driver.mjs $layer $t" "tar -xzf $layer -C $t")
if [ "$PLAIN" = 1 ]; then
  names+=('berth applyLayer (plain)' 'GNU tar -xf')
  commands+=("$NODE $here/bench/unpack-driver.mjs $plain $t" "tar -xf $plain -C $t")
fi
for ((round = 1 - WARMUP; round <= RUNS; round++)); do
  for i in "${!names[@]}"; do
    out=$work/round-$round-$i.json
    hyperfine --style none --runs 1 --prepare "$prepare" --export-json "$out" -n "${names[$i]}" "${commands[$i]}" >/dev/null
    secs=$("$NODE" -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).results[0].times[0].toFixed(2))' "$out")
    if [ "$round" -lt 1 ]; then
      echo "warm-up: ${names[$i]}: ${secs} s"
      rm -f "$out"
    else
      echo "round $round/$RUNS: ${names[$i]}: ${secs} s"
    fi
  done
done
"$NODE" "$here/bench/unpack-report.mjs" "$work"/round-*.json
