#!/bin/bash
# What a fork loop held by --pids-limit costs the host: the time of a host command (`sh -c true`,
# a fork and an exec) while a container forks as fast as its pids limit lets it, against the same
# command on the host without it. The test (cgroups-enforcement.test.ts) proves the limit holds
# and the host can still fork; how fast the host stays is this measurement, not a test.
#   bash bench/fork-loop.sh      (as root, after npm run build; RUNS/WARMUP override 200/20,
#                                 PIDS overrides the limit, 32)
# A benchmark reports; it never fails because a figure looks bad.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-200}
WARMUP=${WARMUP:-20}
PIDS=${PIDS:-32}
for tool in hyperfine; do command -v "$tool" >/dev/null || { echo "bench/fork-loop.sh: $tool not installed" >&2; exit 1; }; done
[ -x /bin/busybox ] || { echo "bench/fork-loop.sh: no /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
[ -e dist/bin/berth.mjs ] || { echo "bench/fork-loop.sh: not built: npm run build" >&2; exit 1; }
work=$(mktemp -d /tmp/berth-bench-fork.XXXXXX)
export BERTH_ROOT=$work/root
berth() { node dist/bin/berth.mjs "$@"; }
cleanup() {
  set +e
  berth rm -f forkloop >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

sh scripts/busybox-bundle.sh "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
berth import "$work/rootfs.tar" bench:fork >/dev/null

hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/idle.json" -n idle 'sh -c true' >/dev/null
# The inner shell forks sleeps until a fork fails (ash then exits); the outer one starts it again.
berth run -d --name forkloop --network none --pids-limit "$PIDS" bench:fork \
  sh -c 'while :; do sh -c "while :; do sleep 1000 & done" 2>/dev/null; done' >/dev/null
id=$(berth inspect -f '{{.Id}}' forkloop)
for _ in $(seq 100); do
  n=$(cat "/sys/fs/cgroup/pids/berth/$id/pids.current" 2>/dev/null || cat "/sys/fs/cgroup/berth/$id/pids.current")
  [ "$n" -ge $((PIDS - 2)) ] && break
  sleep 0.1
done
echo "the container's tasks: $n of pids.max $PIDS; load average $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"
hyperfine -N --style none --warmup "$WARMUP" --runs "$RUNS" --export-json "$work/loop.json" -n "fork loop at pids.max $PIDS" 'sh -c true' >/dev/null

node -e '
const fs = require("fs");
const rows = process.argv.slice(1).map((f) => JSON.parse(fs.readFileSync(f, "utf8")).results[0]);
const ms = (s) => (s * 1000).toFixed(2).padStart(7);
const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
console.log("host `sh -c true`               median ms   p99 ms   max ms   runs");
for (const r of rows) console.log(`${r.command.padEnd(32)}${ms(r.median)}  ${ms(q(r.times, 0.99))}  ${ms(Math.max(...r.times))}   ${r.times.length}`);
console.log(`fork loop / idle: ${(rows[1].median / rows[0].median).toFixed(2)}x of medians`);
' "$work/idle.json" "$work/loop.json"
