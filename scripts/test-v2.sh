#!/bin/bash
# The cgroup tests, and the runtime tests that touch cgroups, run unchanged inside a pure cgroup v2
# guest: ../shared/tools/v2vm/run-in-v2.sh boots Debian's stock kernel under qemu with only cgroup2
# mounted, this machine's / visible read-only at the same paths. The driver is chosen by
# detection, so the same files that pass here on the hybrid host (v1 driver) exercise the v2
# driver there.
#
#   scripts/test-v2.sh [dist/test/FILE.test.js ...]     (default: the list below)
#
# Needs a built tree (`npm run test:v2` builds first), root, and Debian's qemu-system-x86. The
# guest is emulated (10-30x slower than this host): BERTH_TEST_SLOW scales the tests' timeouts.
# About 9 minutes for the default list on a quiet 2-CPU host; up to twice that when the host is
# busy with other work (the emulation gets less of it). The engine's lifecycle file is not in the
# list: emulated, it took 14 of the guest's 20 minutes, and its cgroup side (limits set, enforced
# and removed with the container) is engine-limits' and engine-host-options' here.
# Env: V2VM (the run-in-v2.sh to use), BERTH_V2_TIMEOUT (seconds, default 1500), BERTH_V2_MEM
# (MiB, default 4096), BERTH_V2_CONCURRENCY (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."

# ---- inside the guest: `test-v2.sh --guest FILE...`
if [ "${1:-}" = --guest ]; then
  shift
  echo "guest: kernel $(uname -r), /sys/fs/cgroup is $(stat -fc %T /sys/fs/cgroup), controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control), $(nproc) CPUs, in cgroup $(cut -d: -f3 /proc/self/cgroup)"
  # The files that measure CPU shares (*enforcement*, *limits*, *tour*) run alone, on a quiet guest; the others two
  # at a time (the guest has 2 CPUs, and a test file mostly waits on one child process at a time).
  alone=(); shared=()
  for f in "$@"; do case $f in *enforcement*|*limits*|*tour*) alone+=("$f") ;; *) shared+=("$f") ;; esac; done
  rc=0
  group() {   # group CONCURRENCY FILE...
    local concurrency=$1 start=$EPOCHREALTIME status=0
    shift
    [ $# -gt 0 ] || return 0
    node --test --test-concurrency="$concurrency" "$@" || status=$?
    [ "$status" = 0 ] || rc=$status
    echo "test-v2: $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", e - s }') s for $# files, $concurrency at a time (exit $status): $*"
  }
  group 1 "${alone[@]}"
  group "${BERTH_V2_CONCURRENCY:-2}" "${shared[@]}"
  exit "$rc"
fi

# ---- on the host
V2VM=${V2VM:-../shared/tools/v2vm/run-in-v2.sh}
[ -x "$V2VM" ] || { echo "test-v2: $V2VM not found (the cgroup v2 guest tool)" >&2; exit 2; }
[ -e dist/bin/berth-runtime.mjs ] && [ -d dist/test ] || { echo "test-v2: not built: run npm run build first" >&2; exit 2; }

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(
    dist/test/cgroups.test.js
    dist/test/device-filter.test.js
    dist/test/engine-host-options.test.js
    dist/test/cgroups-enforcement.test.js
    dist/test/engine-limits.test.js
    dist/test/runtime-lifecycle.test.js
    dist/test/runtime-errors.test.js
    dist/test/runtime-explain.test.js
    dist/test/runtime-explain-replay.test.js
    dist/test/runtime-features.test.js
    dist/test/runtime-hooks.test.js
    dist/test/runtime-inside.test.js
    dist/test/runtime-isolation.test.js
    dist/test/storage-xattr.test.js
    dist/test/tour.test.js
  )
fi
for f in "${files[@]}"; do [ -e "$f" ] || { echo "test-v2: no such test file: $f" >&2; exit 2; }; done

log=$(mktemp /tmp/berth-test-v2.XXXXXX)
trap 'rm -f "$log"' EXIT

echo "test-v2: ${#files[@]} test files in a pure cgroup v2 guest: ${files[*]}"
# The tests' temporary files go to /tmp, in the guest's memory (its / is an overlay on the
# read-only host view; no --tmpfs /tmp: some tests expect /tmp not to be a mount of its own).
# An engine's BERTH_ROOT holds overlay upper dirs, which an overlay cannot: those go to /run.
# --cgroup: the tests run in a leaf cgroup, as on a systemd host, not in the root cgroup;
# containers go under /berth-test and /berth, beside it.
set +e
"$V2VM" --timing --timeout "${BERTH_V2_TIMEOUT:-1500}" --cpus 2 --mem "${BERTH_V2_MEM:-4096}" \
  --cgroup /test.slice/berth-tests.scope \
  -e BERTH_TEST_SLOW=15 -e BERTH_V2_CONCURRENCY="${BERTH_V2_CONCURRENCY:-2}" -e BERTH_TEST_TMP=/run \
  -- scripts/test-v2.sh --guest "${files[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

# The summary where CI output ends: node's counts summed over the runs, each run's time, the
# guest's timing, the verdict.
echo "== cgroup v2 guest tests: summary"
awk '/^# (tests|pass|fail|cancelled|skipped|todo) [0-9]+$/ { n[$2] += $3; if (!($2 in seen)) { seen[$2] = 1; order[++k] = $2 } }
     END { for (i = 1; i <= k; i++) printf "   %s %d\n", order[i], n[order[i]] }' "$log"
grep -E '^(test-v2: [0-9]+ s for|run-in-v2: (total|TIMEOUT))' "$log" | sed 's/^/   /' || true
case $rc in
  0) echo "cgroup v2 guest tests: passed" ;;
  124) echo "cgroup v2 guest tests: FAILED (the guest timed out)" ;;
  *) echo "cgroup v2 guest tests: FAILED (exit status $rc)" ;;
esac
exit "$rc"
