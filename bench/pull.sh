#!/usr/bin/env bash
# Pull of a multi-layer image (>= 300 MB in 6 data layers and a busybox one) from a local
# docker-registry into an empty store: berth pull vs skopeo copy docker://... oci:DIR, and berth
# pull + unpack (berth pull, then berth run --rm IMAGE true, which unpacks the layers into storage)
# vs podman pull (which also unpacks), with hyperfine; medians and same-run ratios printed, with
# the load average. Run from the project root after `npm run build`, as root. See bench/README.md.
#   LAYERS=6 LAYER_MB=56 RUNS=7 bash bench/pull.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-6}
LAYER_MB=${LAYER_MB:-56}
RUNS=${RUNS:-7}
for tool in docker-registry skopeo hyperfine; do command -v "$tool" >/dev/null || { echo "bench/pull.sh: $tool not installed" >&2; exit 1; }; done
[ -f dist/bin/berth.mjs ] || { echo "bench/pull.sh: run npm run build first" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-bench-pull-XXXXXX)
REG_PID=
cleanup() {
  [ -n "$REG_PID" ] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$W/registry.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $W/registry
http:
  addr: 127.0.0.1:$PORT
EOF
docker-registry serve "$W/registry.yml" 2>"$W/registry.log" &
REG_PID=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.05; done

# The image: an OCI layout of LAYERS gzip layers of incompressible data, copied in by skopeo.
echo "building a ${LAYERS}-layer image of $((LAYERS * LAYER_MB)) MB..." >&2
L="$W/layout"
mkdir -p "$L/blobs/sha256" "$W/src"
diff_ids=() layers_json=()
# add_layer DIR: the tree under DIR as the next gzip layer of the layout (DIR is removed).
add_layer() {
  tar -C "$1" -cf "$W/layer.tar" .
  diff_ids+=("\"sha256:$(sha256sum "$W/layer.tar" | cut -d' ' -f1)\"")
  gzip -1 -c "$W/layer.tar" >"$W/layer.tar.gz"
  local d
  d=$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1)
  layers_json+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$W/layer.tar.gz")}")
  mv "$W/layer.tar.gz" "$L/blobs/sha256/$d"
  rm -rf "$1" "$W/layer.tar"
}
for i in $(seq 1 "$LAYERS"); do
  mkdir -p "$W/src/$i/data"
  head -c "$((LAYER_MB * 1024 * 1024))" /dev/urandom >"$W/src/$i/data/blob-$i"
  add_layer "$W/src/$i"
done
# The last layer: busybox-static as /bin/true, so that `berth run --rm IMAGE true` has a command.
if [ -x /bin/busybox ]; then
  mkdir -p "$W/src/bb/bin"
  cp /bin/busybox "$W/src/bb/bin/busybox"
  ln -s busybox "$W/src/bb/bin/true"
  add_layer "$W/src/bb"
fi
arch=$(node -e 'console.log({x64:"amd64",arm64:"arm64"}[process.arch]??process.arch)')
config="{\"architecture\":\"$arch\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(IFS=,; echo "${diff_ids[*]}")]}}"
printf '%s' "$config" >"$W/config.json"
cd_=$(sha256sum "$W/config.json" | cut -d' ' -f1)
mv "$W/config.json" "$L/blobs/sha256/$cd_"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":${#config}},\"layers\":[$(IFS=,; echo "${layers_json[*]}")]}"
printf '%s' "$manifest" >"$W/manifest.json"
md=$(sha256sum "$W/manifest.json" | cut -d' ' -f1)
mv "$W/manifest.json" "$L/blobs/sha256/$md"
echo '{"imageLayoutVersion":"1.0.0"}' >"$L/oci-layout"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$md\",\"size\":${#manifest},\"annotations\":{\"org.opencontainers.image.ref.name\":\"big\"}}]}" >"$L/index.json"
REF="127.0.0.1:$PORT/bench/big:1"
skopeo copy -q --dest-tls-verify=false "oci:$L:big" "docker://$REF"
rm -rf "$L"
echo "image: $REF ($(du -sh "$W/registry" | cut -f1) in the registry)" >&2
# The floor row: the layer blobs fetched from this registry into /dev/null, 4 at once as berth
# does, with nothing hashed or written: what the registry and the HTTP transfer alone take here.
curl -fs -H 'Accept: application/vnd.oci.image.manifest.v1+json' -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://127.0.0.1:$PORT/v2/bench/big/manifests/1" \
  | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => { for (const l of JSON.parse(s).layers) console.log(`http://${process.argv[1]}/v2/bench/big/blobs/${l.digest}`); });' "127.0.0.1:$PORT" >"$W/blobs.txt"

BERTH="$PWD/dist/bin/berth"
PODMAN="podman --root $W/podman-root --runroot $W/podman-run --runtime runc --cgroup-manager cgroupfs --storage-driver overlay"
names=("berth pull" "skopeo copy" "registry to /dev/null")
# Every prepare ends with a sync (not timed): the data an earlier command left dirty (podman's
# pull does not fsync; unpacking neither) is on disk before the next is timed, so that no command
# pays for another's writeback (the first of a round did: it ran right after podman's pull).
prepares=("rm -rf $W/berth; sync" "rm -rf $W/oci; sync" "sync")
commands=("BERTH_ROOT=$W/berth $BERTH pull -q $REF" "skopeo copy -q --src-tls-verify=false docker://$REF oci:$W/oci:big" "xargs -P4 -n1 curl -fs -o /dev/null <$W/blobs.txt")
# A row that cannot be measured is said, not dropped silently.
if [ -x /bin/busybox ]; then
  names+=("berth pull+unpack")
  prepares+=("rm -rf $W/berth-run; sync")
  commands+=("BERTH_ROOT=$W/berth-run $BERTH pull -q $REF && BERTH_ROOT=$W/berth-run $BERTH run --rm $REF true")
else
  echo "bench/pull.sh: no /bin/busybox (apt-get install busybox-static): the berth pull+unpack row is left out" >&2
fi
if command -v podman >/dev/null; then
  names+=("podman pull")
  prepares+=("$PODMAN rmi -af >/dev/null 2>&1 || true; rm -rf $W/podman-root $W/podman-run; sync")
  commands+=("$PODMAN pull -q --tls-verify=false $REF")
else
  echo "bench/pull.sh: podman not installed (apt-get install podman): the podman pull row and the unpack ratio are left out" >&2
fi
# Each command once with its output shown: hyperfine hides why a command fails.
for i in "${!names[@]}"; do
  bash -c "${prepares[$i]}"
  bash -c "${commands[$i]}" >/dev/null || { echo "bench/pull.sh: ${names[$i]} failed" >&2; exit 1; }
done
# The commands take turns, one hyperfine run each per round, so that a change of load on this
# shared machine falls on both sides of a ratio alike (the report gives the median of the
# per-round ratios next to the ratio of the medians).
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
for ((round = 1; round <= RUNS; round++)); do
  for i in "${!names[@]}"; do
    hyperfine --style none --runs 1 --prepare "${prepares[$i]}" --export-json "$W/round-$round-$i.json" -n "${names[$i]}" "${commands[$i]}" >/dev/null
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
# podman's storage may hold mounts: take it down before the temp dir goes.
command -v podman >/dev/null && $PODMAN rmi -af >/dev/null 2>&1 || true
node bench/rounds-report.mjs '[["berth pull","skopeo copy",0.7],["registry to /dev/null","skopeo copy",0.7],["berth pull","registry to /dev/null"],["berth pull+unpack","podman pull"]]' "$W"/round-*.json
