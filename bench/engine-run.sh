#!/bin/bash
# `berth run --rm --network none IMAGE true` against `podman run --rm --network none` of the same
# image (a busybox-static rootfs imported into both), in one run, with hyperfine; prints medians
# and the ratio (issue 4's target: berth ≤ 0.6× podman). NETWORK=bridge runs both on their
# default bridge network instead (issue 7's target: ≤ 0.35×). A benchmark reports; it never fails
# because a target is missed.
#   bash bench/engine-run.sh        (as root, after npm run build; RUNS/WARMUP override 20/3)
#   NETWORK=bridge bash bench/engine-run.sh
# podman runs with runc and cgroupfs (crun 1.8 refuses this hybrid host), its own temp storage,
# and rlimits under the host's hard limits (its defaults exceed them here and runc refuses).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
NETWORK=${NETWORK:-none}
case $NETWORK in
  none) target=0.6 ;;
  bridge) target=0.35 ;;
  *) echo "engine-run: NETWORK=$NETWORK: use none or bridge" >&2; exit 2 ;;
esac
work=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
podman=(podman --runtime runc --cgroup-manager cgroupfs --events-backend none --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver overlay)
# What podman's bridge (the CNI plugins) leaves on the host, recorded now and undone at the end:
# its bridge, the iptables tables it made, ip_forward, /var/lib/cni and the /run/netns mount.
links_before=$(ip -o link | cut -d: -f2)
tables_before=$(nft list tables 2>/dev/null || true)
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
cni_before=$([ -e /var/lib/cni ] && echo yes || echo no)
netns_before=$(grep -c ' /run/netns ' /proc/self/mountinfo || true)
restore_network() {
  for link in $(ip -o link | cut -d: -f2); do
    echo "$links_before" | grep -qx " $link" || ip link delete "${link%@*}" 2>/dev/null || true
  done
  nft list tables 2>/dev/null | while read -r table; do
    echo "$tables_before" | grep -qx "$table" || nft delete $table
  done
  echo "$forward_before" > /proc/sys/net/ipv4/ip_forward
  [ "$cni_before" = yes ] || rm -rf /var/lib/cni
  if [ "$netns_before" = 0 ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then umount /run/netns 2>/dev/null && rmdir /run/netns; fi
  true
}
cleanup() {
  set +e # try every step: a failed one (no mount to unmount) must not skip the rest
  "${podman[@]}" rm -af >/dev/null 2>&1 || true
  "${podman[@]}" rmi -af >/dev/null 2>&1 || true
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  restore_network
}
trap cleanup EXIT

scripts/busybox-bundle.sh "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
export BERTH_ROOT=$work/berth-root
dist/bin/berth import "$work/rootfs.tar" bench/busybox:1 >/dev/null
"${podman[@]}" import -q "$work/rootfs.tar" localhost/bench/busybox:1 >/dev/null

berth_cmd="dist/bin/berth run --rm --network $NETWORK bench/busybox:1 true"
podman_cmd="${podman[*]} run --rm --network $NETWORK --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 localhost/bench/busybox:1 true"
# Once with output shown: hyperfine hides why a command fails.
$berth_cmd
$podman_cmd

hyperfine -N --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/run.json" \
  -n 'berth run --rm' "$berth_cmd" -n 'podman run --rm' "$podman_cmd" >/dev/null
node -e '
const doc = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const median = (t) => { const s = [...t].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const r = Object.fromEntries(doc.results.map((x) => [x.command, median(x.times) * 1000]));
for (const [name, ms] of Object.entries(r)) console.log(`${name.padEnd(20)} ${ms.toFixed(1).padStart(8)} ms (median of ${doc.results[0].times.length})`);
const ratio = r["berth run --rm"] / r["podman run --rm"];
console.log(`berth / podman       ${ratio.toFixed(2).padStart(8)}×   (--network ${process.argv[2]}: target ≤ ${process.argv[3]}×, information only)`);
' "$work/run.json" "$NETWORK" "$target"
