#!/usr/bin/env bash
# Pull of a multi-layer image (>= 300 MB in 6 layers) from a local docker-registry into an empty
# store: berth pull vs skopeo copy docker://... oci:DIR vs podman pull (which also unpacks), with
# hyperfine, ratios printed. Run from the project root after `npm run build`, as root.
#   LAYERS=6 LAYER_MB=56 RUNS=5 bash bench/pull.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LAYERS=${LAYERS:-6}
LAYER_MB=${LAYER_MB:-56}
RUNS=${RUNS:-5}
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
for i in $(seq 1 "$LAYERS"); do
  mkdir -p "$W/src/$i/data"
  head -c "$((LAYER_MB * 1024 * 1024))" /dev/urandom >"$W/src/$i/data/blob-$i"
  tar -C "$W/src/$i" -cf "$W/layer.tar" data
  diff_ids+=("\"sha256:$(sha256sum "$W/layer.tar" | cut -d' ' -f1)\"")
  gzip -1 -c "$W/layer.tar" >"$W/layer.tar.gz"
  d=$(sha256sum "$W/layer.tar.gz" | cut -d' ' -f1)
  layers_json+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$W/layer.tar.gz")}")
  mv "$W/layer.tar.gz" "$L/blobs/sha256/$d"
  rm -rf "$W/src/$i" "$W/layer.tar"
done
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

BERTH="node $PWD/dist/bin/berth.mjs"
PODMAN="podman --root $W/podman-root --runroot $W/podman-run --runtime runc --cgroup-manager cgroupfs --storage-driver overlay"
cmds=(
  --prepare "rm -rf $W/berth" -n "berth pull" "BERTH_ROOT=$W/berth $BERTH pull -q $REF"
  --prepare "rm -rf $W/oci" -n "skopeo copy" "skopeo copy -q --src-tls-verify=false docker://$REF oci:$W/oci:big"
)
if command -v podman >/dev/null; then
  cmds+=(--prepare "$PODMAN rmi -af >/dev/null 2>&1 || true; rm -rf $W/podman-root $W/podman-run" -n "podman pull" "$PODMAN pull -q --tls-verify=false $REF")
fi
hyperfine --runs "$RUNS" --export-json "$W/results.json" "${cmds[@]}"
# podman's storage may hold mounts: take it down before the temp dir goes.
command -v podman >/dev/null && $PODMAN rmi -af >/dev/null 2>&1 || true
node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).results;
const m = Object.fromEntries(r.map((x) => [x.command, x.mean]));
const b = m["berth pull"];
console.log(`berth pull   ${b.toFixed(3)} s`);
for (const [name, t] of Object.entries(m)) if (name !== "berth pull") console.log(`${name.padEnd(12)} ${t.toFixed(3)} s   berth/${name.split(" ")[0]} = ${(b / t).toFixed(2)}x`);
if (m["skopeo copy"]) console.log(`target: berth <= 0.7x skopeo: ${b / m["skopeo copy"] <= 0.7 ? "met" : "not met"}`);
' "$W/results.json"
