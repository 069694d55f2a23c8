#!/bin/bash
# berth-runtime against crun and runc, and the library's spawn against the kernel floor, in one run
# on the same busybox bundle; prints medians and ratios. See bench/README.md.
#   bash bench/runtime.sh            (as root, after `npm run build`)
#   RUNS=50 WARMUP=5 bash bench/runtime.sh
# A benchmark reports, it does not judge: a missed target never makes it fail. It exits non-zero
# only when something could not be measured at all (and says what).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
NODE=${NODE:-node}
cli=$here/dist/bin/berth-runtime   # the command as installed: its launcher, then the bundle

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (containers need it)"
[ -f "$cli" ] || die "$cli missing: build first (npm run build)"
for tool in crun runc unshare nsenter "$NODE"; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

work=$(mktemp -d /tmp/berth-bench.XXXXXX)
bundle=$work/bundle
nsfile=$work/mntns             # the persistent mount namespace crun runs in
cgroup=berth-bench-$$          # absolute cgroupsPath for crun and runc (see below)

cleanup() {
  set +e
  mountpoint -q "$work/roots" 2>/dev/null && umount "$work/roots"
  if [ -e "$nsfile" ]; then
    umount "$nsfile" 2>/dev/null
    rm -f "$nsfile"
  fi
  # crun and runc remove their cgroup when `run` ends; this only catches an interrupted run.
  for d in /sys/fs/cgroup/*/"$cgroup" /sys/fs/cgroup/"$cgroup"; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

q() { printf '%q ' "$@"; } # one command line for alternate.mjs (it splits shell-words)

# --- the bundle: one config.json for all three runtimes --------------------------------------------
sh "$here/scripts/busybox-bundle.sh" "$bundle" /bin/true >/dev/null
# - berth's own `spec` (terminal false; crun's and runc's `spec` default to terminal true).
# - ociVersion 1.0.2: crun 1.8 refuses any ociVersion without "1.0" in it ("unknown version
#   specified"); berth and runc accept 1.0.x too.
# - an absolute cgroupsPath: without one runc nests the container in the caller's own cgroup (here
#   the machine's tooling's) while crun uses /<id>; absolute puts all three in the same place.
#   berth-runtime makes and removes that cgroup as they do (in every v1 hierarchy and the
#   cgroup2 tree of this hybrid host), so each run's time includes its cgroup's.
"$NODE" -e '
  const fs = require("fs");
  const [file, cgroup] = process.argv.slice(1);
  const c = JSON.parse(fs.readFileSync(file, "utf8"));
  c.ociVersion = "1.0.2";
  c.process.terminal = false;
  c.process.args = ["/bin/true"];
  c.linux.cgroupsPath = "/" + cgroup;
  fs.writeFileSync(file, JSON.stringify(c, null, "\t") + "\n");
' "$bundle/config.json" "$cgroup"
# Every runtime's --root on a tmpfs, as berth-runtime's default root (/run/berth-runtime) and
# runc's and crun's (/run/runc, /run/crun) are: an fsync there costs what it costs in production.
mkdir -p "$work/roots"
mount -t tmpfs -o size=16m berth-bench "$work/roots"
mkdir -p "$work/roots/berth" "$work/roots/berth-ns" "$work/roots/crun" "$work/roots/runc"

# --- crun's namespace: /sys/fs/cgroup/unified unmounted in a private mount namespace --------------
# crun 1.8 refuses this host's hybrid cgroup layout; in this namespace it sees cgroup v1 only (and
# so does berth-runtime there: the cgroup2 mount is gone from its mountinfo, not just covered).
# Propagation is private, so the unmount never reaches the host; the bind of the namespace onto
# $nsfile keeps it alive between commands. nsenter resets the cwd, hence --wd.
touch "$nsfile"
unshare --mount="$nsfile" --propagation private umount /sys/fs/cgroup/unified
ns=(nsenter --mount="$nsfile" --wd="$bundle")

berth_cmd=$(q "$cli" --root "$work/roots/berth" run bench-berth)
runc_cmd=$(q runc --root "$work/roots/runc" run bench-runc)
# crun runs in its namespace through nsenter; berth-runtime runs there too, through the same
# nsenter, for a like-for-like pair (both see the v1 hierarchies only, both pay nsenter's exec).
crun_cmd=$(q "${ns[@]}" crun --root "$work/roots/crun" run bench-crun)
berth_ns_cmd=$(q "${ns[@]}" "$cli" --root "$work/roots/berth-ns" run bench-berth-ns)
floor_cmd=$(q unshare --mount --uts --ipc --net --pid --fork true)
# Node's own start, the floor of any Node command (without NODE_EXTRA_CA_CERTS, as the launcher starts it).
node_cmd=$(q env -u NODE_EXTRA_CA_CERTS "$NODE" -e 0)

echo "bench: $(uname -r), node $("$NODE" --version), $(crun --version 2>/dev/null | head -1), $(runc --version 2>/dev/null | head -1)"
echo "bench: bundle $bundle (busybox, /bin/true), $RUNS rounds after $WARMUP warm-up rounds; roots on tmpfs"
if host_refusal=$(cd "$bundle" && crun --root "$work/roots/crun" run bench-crun-host 2>&1); then
  echo "bench: note: crun ran on the host as it is (no namespace needed)"
else
  echo "bench: note: crun on the host as it is says: $host_refusal"
fi

# --- (a) whole processes, taking turns round by round (bench/alternate.mjs) ------------------------
failed=()
results=()
if (cd "$bundle" && "$NODE" "$here/bench/alternate.mjs" --runs "$RUNS" --warmup "$WARMUP" --json "$work/alt.json" \
  -n 'berth-runtime run' "$berth_cmd" -n 'runc run' "$runc_cmd" \
  -n 'berth-runtime run (ns)' "$berth_ns_cmd" -n 'crun run (ns)' "$crun_cmd" \
  -n 'node -e 0' "$node_cmd" -n 'unshare floor' "$floor_cmd" \
  --ratio 'berth-runtime run/runc run<=2.5' --ratio 'berth-runtime run (ns)/crun run (ns)<=3.5' \
  --ratio 'berth-runtime run/node -e 0' --ratio 'node -e 0/crun run (ns)'); then
  results+=("$work/alt.json")
else
  failed+=('whole processes')
fi

# --- (b) the library's spawn→exit, in one Node process -----------------------------------------------
echo "Benchmark: library spawnPlan→exit /bin/true (in-process, $RUNS iterations after $WARMUP)"
if "$NODE" "$here/bench/lib-spawn.mjs" "$bundle" "$RUNS" "$WARMUP" >"$work/lib.json"; then
  results+=("$work/lib.json")
else
  echo "bench: library spawn failed, left out" >&2
  failed+=('library spawn')
fi

# --- state left behind by the runtimes (a run that exits must leave none) --------------------------
left=$(find "$work/roots" -mindepth 2 -maxdepth 2 2>/dev/null | sed "s|^$work/roots/||")
[ ${#results[@]} -gt 0 ] && "$NODE" "$here/bench/report.mjs" "${results[@]}"

cleanup
trap - EXIT
echo ""
echo "state dirs left in the runtimes' roots: ${left:-none}"
echo "mounts left (berth-bench in /proc/self/mountinfo): $(grep -c berth-bench /proc/self/mountinfo || true)"
if [ ${#failed[@]} -gt 0 ]; then
  echo "not measured: ${failed[*]}" >&2
  exit 1
fi
