#!/bin/bash
# The cost of a container's cgroup, setup + teardown: berth's library in-process, next to
# `create` + `delete --force` of crun, runc and berth-runtime with the same linux.resources, in one
# run; prints medians and ratios. On this host (cgroup v1, hybrid) and inside a pure cgroup v2
# guest (../shared/tools/v2vm/run-in-v2.sh). See bench/README.md.
#   bash bench/cgroups.sh            host, then the v2 guest (when the v2vm tool is there)
#   bash bench/cgroups.sh --host     host only          (RUNS=50 WARMUP=5 by default)
#   bash bench/cgroups.sh --v2       v2 guest only      (V2_RUNS=15 V2_WARMUP=2 V2_TIMEOUT=600)
# As root, after `npm run build` and the native build. A benchmark reports, it does not judge: it
# exits non-zero only when something could not be measured at all (and says what).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-50}
WARMUP=${WARMUP:-5}
V2_RUNS=${V2_RUNS:-15}
V2_WARMUP=${V2_WARMUP:-2}
V2_TIMEOUT=${V2_TIMEOUT:-600}
V2VM=${V2VM:-$here/../shared/tools/v2vm/run-in-v2.sh}
NODE=${NODE:-node}
# The shipped executable (package.json's bin: one bundled module, Node's faster start).
BERTH_RUNTIME=${BERTH_RUNTIME:-$here/dist/bin/berth-runtime}
lib=$here/bench/cgroups-lib.mjs
report=$here/bench/cgroups-report.mjs

usage() { sed -n '2,/^set -e/{/^set -e/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2; }
die() { echo "bench: $*" >&2; exit 1; }
where=all
case ${1:-} in
  '' | --all) ;;
  --host) where=host ;;
  --v2) where=v2 ;;
  --inside-guest) where=inside ;; # what --v2 runs in the guest: measure, write JSON to $BENCH_OUT
  *) usage ;;
esac

[ "$(id -u)" = 0 ] || die "run as root (cgroups and containers need it)"
[ -f "$here/dist/src/cgroups/driver.js" ] && [ -f "$BERTH_RUNTIME" ] || die "dist/ missing: build first (npm run build)"
for tool in hyperfine crun runc unshare nsenter "$NODE"; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

work=$(mktemp -d /tmp/berth-bench-cgroups.XXXXXX)
cg=berth-bench-$$       # the parent of every cgroup made here: /berth-bench-<pid>
nsfile=$work/mntns      # crun's mount namespace on a hybrid host (see below)
crun_ns=()              # how to enter it (empty: crun runs as it is)

# Containers an interrupted run left, then processes still in the bench cgroups, then the cgroups
# (deepest first), crun's namespace and the temp dir. On every exit path.
cleanup() {
  set +e
  [ -n "$(ls -A "$work/root-crun" 2>/dev/null)" ] && "${crun_ns[@]}" crun --root "$work/root-crun" delete --force bench-crun >/dev/null 2>&1
  [ -n "$(ls -A "$work/root-runc" 2>/dev/null)" ] && runc --root "$work/root-runc" delete --force bench-runc >/dev/null 2>&1
  [ -n "$(ls -A "$work/root-berth" 2>/dev/null)" ] && "$NODE" "$BERTH_RUNTIME" --root "$work/root-berth" delete --force bench-berth >/dev/null 2>&1
  local dirs=() d pids
  for d in /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg"; do [ -d "$d" ] && dirs+=("$d"); done
  if [ ${#dirs[@]} -gt 0 ]; then
    pids=$(find "${dirs[@]}" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086 # one pid a word; all of them are this run's containers'
      kill -9 $pids 2>/dev/null
      sleep 0.2
    fi
    find "${dirs[@]}" -depth -type d -exec rmdir {} + 2>/dev/null
  fi
  if [ -e "$nsfile" ]; then
    umount "$nsfile" 2>/dev/null
    rm -f "$nsfile"
  fi
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

q() { printf '%q ' "$@"; } # one command line for hyperfine -N (it splits shell-words)

# What is left of this run's cgroups and mounts (both must be none).
leftovers() {
  local left
  left=$(ls -d /sys/fs/cgroup/"$cg" /sys/fs/cgroup/*/"$cg" 2>/dev/null | tr '\n' ' ')
  echo "cgroups left (/sys/fs/cgroup/*/$cg): ${left:-none}"
  # In the guest, the results directory shared by run-in-v2.sh (BENCH_OUT) is a mount of the harness's.
  local mounts
  mounts=$(grep berth-bench-cgroups /proc/self/mountinfo || true)
  [ -n "${BENCH_OUT:-}" ] && mounts=$(grep -vF "$BENCH_OUT" <<<"$mounts" || true)
  echo "mounts left (berth-bench-cgroups in /proc/self/mountinfo): $(grep -c . <<<"$mounts" || true)"
}

# --- the v2 guest, from the host: this script again, inside it ---------------------------------------
guest() {
  if [ ! -x "$V2VM" ]; then
    echo "bench: v2 guest skipped: $V2VM not found (set V2VM=.../run-in-v2.sh)"
    return 0
  fi
  command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (apt-get install --no-install-recommends qemu-system-x86)"
  echo ""
  echo "=== pure cgroup v2 guest ($V2VM): $V2_RUNS runs after $V2_WARMUP warm-up runs each ==="
  # The rootfs is built here: under the guest's emulation every process it starts costs ~30×.
  # The guest sees this machine's / at the same paths (its writes stay in guest memory); the
  # results come back through the one directory shared read-write.
  sh "$here/scripts/busybox-bundle.sh" "$work/guest-base" sleep 10 >/dev/null
  mkdir -p "$work/v2"
  local rc=0
  "$V2VM" --timeout "$V2_TIMEOUT" --cwd "$here" --rw "$work/v2" \
    -e RUNS="$V2_RUNS" -e WARMUP="$V2_WARMUP" -e BENCH_OUT="$work/v2" -e BENCH_ROOTFS="$work/guest-base/rootfs" \
    -e NODE="$NODE" -e BERTH_RUNTIME="$BERTH_RUNTIME" \
    -- bash "$here/bench/cgroups.sh" --inside-guest || rc=$?
  local results=("$work"/v2/*.json)
  if [ -e "${results[0]}" ]; then
    "$NODE" "$report" --base 'runc create+delete' --title 'pure cgroup v2 guest (qemu, software emulation): read the ratios' "${results[@]}"
  fi
  [ -f "$work/v2/failed" ] && echo "not measured in the guest: $(cat "$work/v2/failed")" >&2
  [ -f "$work/v2/leftovers" ] && sed 's/^/guest: /' "$work/v2/leftovers"
  if [ $rc != 0 ]; then
    echo "bench: the guest run ended with status $rc (124: timeout, 125: the guest died)" >&2
    return 1
  fi
  [ ! -f "$work/v2/failed" ]
}

if [ "$where" = v2 ]; then
  guest
  exit $?
fi

# --- measuring, here (host) or in the guest (--inside-guest) -----------------------------------------
out=${BENCH_OUT:-$work/results}
mkdir -p "$out"
layout=$(awk '$0 ~ / - cgroup2 / {v2=1} $0 ~ / - cgroup / {v1=1} END {print (v1 && v2) ? "hybrid" : v2 ? "unified" : "legacy"}' /proc/self/mountinfo)
if [ "$where" = inside ]; then base='runc create+delete'; else base='crun create+delete'; fi

# The bundles: one busybox rootfs (BENCH_ROOTFS when built already), one config.json per runtime,
# berth's own `spec` (terminal false) with:
# - ociVersion 1.0.2: crun 1.8 refuses any ociVersion without "1.0" in it ("unknown version");
# - the rootfs by absolute path (the three bundles share it);
# - `sleep 10`, which never runs: after `create` the process waits for `start` (crun's and runc's
#   exec fifo, berth's too) and `delete --force` kills it there;
# - the same linux.resources for every runtime: cgroups-lib.mjs's, which the library uses too (the
#   runtimes append their own default device rules, as berth's library is given them);
# - an absolute cgroupsPath, /berth-bench-<pid>/<runtime>: the same place for the three.
rootfs=${BENCH_ROOTFS:-}
if [ -z "$rootfs" ]; then
  sh "$here/scripts/busybox-bundle.sh" "$work/base" sleep 10 >/dev/null
  rootfs=$work/base/rootfs
fi
mkdir -p "$work/spec" "$work/root-crun" "$work/root-runc" "$work/root-berth"
"$NODE" "$BERTH_RUNTIME" spec --bundle "$work/spec"
"$NODE" --input-type=module -e '
  import { readFileSync, mkdirSync, writeFileSync } from "node:fs";
  const [work, rootfs, cg, resources] = process.argv.slice(1);
  for (const rt of ["crun", "runc", "berth"]) {
    const c = JSON.parse(readFileSync(`${work}/spec/config.json`, "utf8"));
    c.ociVersion = "1.0.2";
    c.root = { path: rootfs, readonly: true };
    c.process.terminal = false;
    c.process.args = ["sleep", "10"];
    c.linux.resources = JSON.parse(resources);
    c.linux.cgroupsPath = `/${cg}/${rt}`;
    mkdirSync(`${work}/bundle-${rt}`);
    writeFileSync(`${work}/bundle-${rt}/config.json`, JSON.stringify(c, null, "\t") + "\n");
  }
' "$work" "$rootfs" "$cg" "$("$NODE" "$lib" resources)"

# crun 1.8 refuses a hybrid layout ("cgroups in hybrid mode not supported"): there it runs in a
# private mount namespace where a throw-away tmpfs covers /sys/fs/cgroup/unified, so that it sees
# cgroup v1 only (as bench/runtime.sh does). The bind of the namespace onto $nsfile keeps it alive
# between commands; nsenter resets the cwd, hence --wd.
if [ "$layout" = hybrid ]; then
  touch "$nsfile"
  unshare --mount="$nsfile" --propagation private mount -t tmpfs none /sys/fs/cgroup/unified
  crun_ns=(nsenter --mount="$nsfile" --wd="$work")
fi

pair() { # RUNTIME-CMD... ID BUNDLE: `create` then `delete --force` as one command line for hyperfine
  local id=${*: -2:1} bundle=${*: -1} n=$(($# - 2))
  local rt=("${@:1:$n}")
  q sh -c "$(q "${rt[@]}" create --bundle "$bundle" "$id") && $(q "${rt[@]}" delete --force "$id")"
}
crun_cmd=(crun --root "$work/root-crun")
runc_cmd=(runc --root "$work/root-runc")
berth_cmd=("$NODE" "$BERTH_RUNTIME" --root "$work/root-berth")

echo "bench: $(uname -r), cgroups $layout, node $("$NODE" --version), $(crun --version 2>/dev/null | head -1), $(runc --version 2>/dev/null | head -1), $(hyperfine --version)"
echo "bench: busybox bundles (sleep 10, never started), cgroups under /$cg, $RUNS runs after $WARMUP warm-up runs each"
echo "bench: resources $("$NODE" "$lib" resources)"

# --- each runtime once, untimed: create, read its cgroup's limits back, delete ------------------------
# hyperfine hides why a command fails; this shows it, and proves the limits are the same for all.
failed=()
check_runtime() { # NAME ID BUNDLE RUNTIME-CMD...
  local name=$1 id=$2 bundle=$3 err
  shift 3
  # stderr to a file, not a pipe: the container's process inherits it and keeps it open until delete.
  if ! "$@" create --bundle "$bundle" "$id" >/dev/null 2>"$work/create.err" </dev/null; then
    err=$(cat "$work/create.err")
    echo "bench: $name create failed, left out: ${err:-no message}" >&2
    failed+=("$name")
    return 1
  fi
  local ok=0
  "$NODE" "$lib" check "/$cg/${id#bench-}" "$name" || ok=1
  if ! err=$("$@" delete --force "$id" 2>&1 >/dev/null); then
    echo "bench: $name delete failed, left out: ${err:-exit status $?}" >&2
    ok=1
  elif [ -n "$(ls -d /sys/fs/cgroup/*/"$cg/${id#bench-}" /sys/fs/cgroup/"$cg/${id#bench-}" 2>/dev/null)" ]; then
    echo "bench: $name delete left its cgroup /$cg/${id#bench-} behind, left out" >&2
    ok=1
  fi
  [ $ok = 0 ] || failed+=("$name")
  return $ok
}
host_cmds=()
crun_ok=0
if check_runtime 'crun create+delete' bench-crun "$work/bundle-crun" "${crun_ns[@]}" "${crun_cmd[@]}"; then crun_ok=1; fi
if check_runtime 'runc create+delete' bench-runc "$work/bundle-runc" "${runc_cmd[@]}"; then
  host_cmds+=(-n 'runc create+delete' "$(pair "${runc_cmd[@]}" bench-runc "$work/bundle-runc")")
fi
if check_runtime 'berth-runtime create+delete' bench-berth "$work/bundle-berth" "${berth_cmd[@]}"; then
  host_cmds+=(-n 'berth-runtime create+delete' "$(pair "${berth_cmd[@]}" bench-berth "$work/bundle-berth")")
fi
host_cmds+=(-n 'node -e 0' "$(q "$NODE" -e 0)" -n 'sh -c true' "$(q sh -c true)")

hf=(hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS")

# --- the library, in one Node process: an empty cgroup, then one with a process in it ---------------
# At least 5 warm-up iterations: they are cheap, and under the guest's emulation the first few
# (V8 still compiling) take several times as long as the rest.
lib_warmup=$((WARMUP > 5 ? WARMUP : 5))
for mode in empty process; do
  echo "Benchmark: library setup+teardown, $mode (in-process, $RUNS iterations after $lib_warmup)"
  if ! "$NODE" "$lib" time "/$cg" "$mode" "$RUNS" "$lib_warmup" >"$out/lib-$mode.json"; then
    echo "bench: library ($mode) failed, left out" >&2
    rm -f "$out/lib-$mode.json"
    failed+=("library $mode")
  fi
done

# --- whole processes: crun (from inside its namespace, so nsenter's exec is not charged to it), then
# --- runc, berth-runtime and the references ------------------------------------------------------------
if [ $crun_ok = 1 ]; then
  "${crun_ns[@]}" "${hf[@]}" --export-json "$out/crun.json" -n 'crun create+delete' "$(pair "${crun_cmd[@]}" bench-crun "$work/bundle-crun")" ||
    failed+=('crun create+delete (hyperfine)')
fi
"${hf[@]}" --export-json "$out/others.json" "${host_cmds[@]}" || failed+=('hyperfine: runc, berth-runtime, references')

if [ "$where" = inside ]; then
  [ ${#failed[@]} -gt 0 ] && printf '%s\n' "${failed[@]}" >"$out/failed"
  cleanup
  trap - EXIT
  leftovers >"$out/leftovers"
  exit 0
fi

"$NODE" "$report" --base "$base" --title "this host (cgroup $layout: v1 controllers)" "$out"/*.json
cleanup
trap - EXIT
echo ""
leftovers
host_failed=${#failed[@]}
[ $host_failed -gt 0 ] && echo "not measured: ${failed[*]}" >&2

# --- then the guest ---------------------------------------------------------------------------------
guest_rc=0
if [ "$where" = all ]; then
  work=$(mktemp -d /tmp/berth-bench-cgroups.XXXXXX)
  trap cleanup EXIT
  guest || guest_rc=1
fi
[ $host_failed = 0 ] && [ $guest_rc = 0 ]
