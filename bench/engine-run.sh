#!/bin/bash
# `berth run --rm --network none IMAGE true` against `podman run --rm` and against Debian's dockerd
# (docker.io) of the same image, and the same docker CLI's `docker run --rm` against berth's API
# (`berth system service`) and against that dockerd, in one run: the commands take turns round by
# round (bench/alternate.mjs); prints medians and same-run ratios. Targets (information only):
# berth ≤ 0.6× podman and dockerd with --network none (issue 4), ≤ 0.35× on the bridge (issue 7),
# docker CLI through berth's API ≤ 0.5× through dockerd (issue 15). NETWORK=bridge runs every engine
# on its default bridge network. A benchmark reports; it never fails because a target is missed.
#   bash bench/engine-run.sh        (as root, after npm run build; RUNS/WARMUP override 20/3)
#   NETWORK=bridge bash bench/engine-run.sh
# podman runs with runc and cgroupfs (crun 1.8 refuses this hybrid host), its own temp storage, and
# rlimits under the host's hard limits (its defaults exceed them here and runc refuses). dockerd
# is a private one: its --data-root, --exec-root, --pidfile and socket in the temp dir, and the
# containerd it starts for itself under its --exec-root; it is stopped and what it made on the
# host (docker0, iptables chains, ip_forward) is undone at the end, checked and reported.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
NETWORK=${NETWORK:-none}
DOCKER=${DOCKER:-$(command -v docker)}   # the CLI: docker 28 where installed, else docker.io's
case $NETWORK in
  none) target=0.6 ;;
  bridge) target=0.35 ;;
  *) echo "engine-run: NETWORK=$NETWORK: use none or bridge" >&2; exit 2 ;;
esac
for tool in podman dockerd "$DOCKER" iptables-save iptables-restore; do
  command -v "$tool" >/dev/null || { echo "engine-run: $tool not installed (scripts/setup.sh)" >&2; exit 1; }
done
work=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
podman=(podman --runtime runc --cgroup-manager cgroupfs --events-backend none --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver overlay)
export BERTH_ROOT=$work/berth-root
# What the engines' bridges leave on the host, recorded now and undone at the end: podman's CNI
# bridge and dockerd's docker0 with their iptables chains, ip_forward, /var/lib/cni, /run/netns.
links_before=$(ip -o link | cut -d: -f2)
tables_before=$(nft list tables 2>/dev/null || true)
rules() { "$1" | grep -v '^#' || true; } # iptables-save/ip6tables-save without its dated comments
iptables_before=$(rules iptables-save)
ip6tables_before=$(rules ip6tables-save 2>/dev/null)
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
cni_before=$([ -e /var/lib/cni ] && echo yes || echo no)
netns_before=$(grep -c ' /run/netns ' /proc/self/mountinfo || true)
# dockerd makes /run/docker/plugins and its containerd's shims /run/containerd/s whatever their roots.
run_dirs_before=$(ls -d /run/docker /run/containerd 2>/dev/null || true)
# dockerd makes its cgroup parent, /docker, in every hierarchy, and leaves it (empty) when it stops.
docker_cgroups_before=$(ls -d /sys/fs/cgroup/docker /sys/fs/cgroup/*/docker 2>/dev/null || true)
restore_network() {
  # Only the other engines' bridges: berth removes its own, and a link another run made is not ours.
  for link in docker0 $(ip -o link | cut -d: -f2 | grep -o 'cni-podman[0-9]*' || true); do
    echo "$links_before" | grep -qx " $link" || ip link delete "$link" 2>/dev/null || true
  done
  # iptables-restore puts back the rules of the tables that existed; tables made since go below.
  [ "$(rules iptables-save)" = "$iptables_before" ] || iptables-restore <<<"$iptables_before"
  [ "$(rules ip6tables-save 2>/dev/null)" = "$ip6tables_before" ] || ip6tables-restore <<<"$ip6tables_before"
  nft list tables 2>/dev/null | while read -r table; do
    [ "$table" = 'table ip berth' ] && continue   # berth's own: its last container removes it
    echo "$tables_before" | grep -qx "$table" || nft delete $table
  done
  echo "$forward_before" > /proc/sys/net/ipv4/ip_forward
  [ "$cni_before" = yes ] || rm -rf /var/lib/cni
  for d in /run/docker /run/containerd; do
    echo "$run_dirs_before" | grep -qx "$d" || { rmdir "$d"/* 2>/dev/null; rmdir "$d" 2>/dev/null; }
  done
  if [ "$netns_before" = 0 ] && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then umount /run/netns 2>/dev/null && rmdir /run/netns; fi
  for d in /sys/fs/cgroup/docker /sys/fs/cgroup/*/docker; do
    [ -d "$d" ] && ! echo "$docker_cgroups_before" | grep -qx "$d" && rmdir "$d" 2>/dev/null
  done
  true
}
dockerd_pid=
service_pid=
stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  DOCKER_HOST=unix://$work/docker.sock "$DOCKER" rm -f $(DOCKER_HOST=unix://$work/docker.sock "$DOCKER" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  kill "$dockerd_pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$dockerd_pid" 2>/dev/null || true
  wait "$dockerd_pid" 2>/dev/null || true
  dockerd_pid=
}
cleanup() {
  set +e # try every step: a failed one (no mount to unmount) must not skip the rest
  [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
  stop_dockerd
  ids=$(dist/bin/berth ps -aq 2>/dev/null) && [ -n "$ids" ] && dist/bin/berth rm -f $ids >/dev/null 2>&1
  "${podman[@]}" rm -af >/dev/null 2>&1 || true
  "${podman[@]}" rmi -af >/dev/null 2>&1 || true
  # The engines' exit commands may still be finishing in the storage.
  for _ in $(seq 50); do pgrep -f -- "$work" >/dev/null || break; sleep 0.1; done
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
  restore_network
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

scripts/busybox-bundle.sh "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
dist/bin/berth import "$work/rootfs.tar" bench/busybox:1 >/dev/null
dist/bin/berth save -o "$work/image.tar" --format docker bench/busybox:1
"${podman[@]}" load -q -i "$work/image.tar" >/dev/null
podman_image=$("${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' | grep 'bench/busybox:1$' | head -1)

# dockerd, private: everything under the temp dir; it starts its own containerd (under --exec-root).
dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" --pidfile "$work/docker.pid" \
  -H "unix://$work/docker.sock" --storage-driver overlay2 >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
export DOCKER_CONFIG=$work/docker-config   # the CLI's own config, not root's
mkdir -p "$DOCKER_CONFIG"
echo "{}" >"$DOCKER_CONFIG/config.json"   # podman reads it too (auth), and wants it to exist
for _ in $(seq 300); do DOCKER_HOST=unix://$work/docker.sock "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.1; done
DOCKER_HOST=unix://$work/docker.sock "$DOCKER" load -q -i "$work/image.tar" >/dev/null \
  || { echo "engine-run: dockerd did not start or load the image:" >&2; tail -20 "$work/dockerd.log" >&2; exit 1; }

# berth's API on a socket of its own, over the same BERTH_ROOT (its image is already there).
dist/bin/berth system service --time 0 "unix://$work/berth.sock" 2>"$work/service.log" &
service_pid=$!
for _ in $(seq 300); do DOCKER_HOST=unix://$work/berth.sock "$DOCKER" version >/dev/null 2>&1 && break; sleep 0.1; done

berth_cmd="dist/bin/berth run --rm --network $NETWORK bench/busybox:1 true"
podman_cmd="${podman[*]} run --rm --network $NETWORK --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 $podman_image true"
dockerd_cmd="$DOCKER -H unix://$work/docker.sock run --rm --network $NETWORK bench/busybox:1 true"
api_cmd="$DOCKER -H unix://$work/berth.sock run --rm --network $NETWORK bench/busybox:1 true"

echo "engine-run: --network $NETWORK; $(podman --version), $("$DOCKER" --version) ($DOCKER) against dockerd $(dockerd --version | cut -d' ' -f3-), node $(node --version)"
node bench/alternate.mjs --runs "$RUNS" --warmup "$WARMUP" \
  -n 'berth run --rm' "$berth_cmd" -n 'podman run --rm' "$podman_cmd" -n 'docker→dockerd run --rm' "$dockerd_cmd" \
  -n 'docker→berth API run --rm' "$api_cmd" \
  --ratio "berth run --rm/podman run --rm<=$target" --ratio "berth run --rm/docker→dockerd run --rm<=$target" \
  --ratio 'docker→berth API run --rm/docker→dockerd run --rm<=0.5'

# Which default bridges outlive their engine's last container (docker0 and cni-podman0 stay; berth0 goes).
[ "$NETWORK" = bridge ] && echo "engine-run: bridges up after each engine's last container: $(ip -o link | grep -oE ' (docker0|cni-podman[0-9]+|berth0):' | tr -d ': ' | tr '\n' ' ')"

# On the bridge, what berth pays because its bridge and nft table live only while a container uses
# them (docker's docker0 and podman's cni-podman0 stay): the same pair again while one detached
# berth container keeps berth0 and the table up.
if [ "$NETWORK" = bridge ]; then
  keeper=$(dist/bin/berth run -d --network bridge bench/busybox:1 sleep 1000)
  echo "engine-run: again with berth0 kept up by a detached container"
  node bench/alternate.mjs --runs "$RUNS" --warmup "$WARMUP" \
    -n 'berth run --rm (bridge kept)' "$berth_cmd" -n 'podman run --rm' "$podman_cmd" \
    --ratio "berth run --rm (bridge kept)/podman run --rm<=$target"
  dist/bin/berth rm -f "$keeper" >/dev/null
fi

# Take down dockerd and the service now, then show what is left of them on the host.
kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null || true
service_pid=
stop_dockerd
cleanup
trap - EXIT
left_links=$(ip -o link | cut -d: -f2 | grep -vxF "$links_before" || true)
echo "left on the host: links: ${left_links:-none}; mounts under the temp dir: $(grep -c "$work" /proc/self/mountinfo || true);" \
  "processes naming it: $(pgrep -f -- "$work" | wc -l); ip_forward $(cat /proc/sys/net/ipv4/ip_forward) (was $forward_before);" \
  "nft tables: $(nft list tables 2>/dev/null | grep -cvxF "$tables_before" || true) new;" \
  "iptables rules: $([ "$(rules iptables-save)" = "$iptables_before" ] && [ "$(rules ip6tables-save 2>/dev/null)" = "$ip6tables_before" ] && echo 'as before' || echo DIFFERENT);" \
  "docker0: $(ip link show docker0 >/dev/null 2>&1 && echo present || echo absent);" \
  "/run/docker, /run/containerd: $(ls -d /run/docker /run/containerd 2>/dev/null | grep -cvxF "${run_dirs_before:-none}" || true) new"
