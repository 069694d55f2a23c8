#!/bin/bash
# 20 detached containers started one after the other, `berth run -d IMAGE sleep 1000` against
# `podman run -d` of the same image (berth's busybox image, saved by `berth save` as a
# docker-archive and loaded into podman), in the same run: the total time, and the memory each
# container costs while it runs (its monitor, conmon for both, and any other process the engine
# leaves resident for it). Several rounds, engines taking turns; prints medians and ratios
# (issue 6's targets: time ≤ 0.5× podman, memory per container ≤ 1× podman's). A benchmark
# reports; it never fails because a target is missed.
#   bash bench/detached.sh           (as root, after npm run build; ROUNDS=5 COUNT=20 by default)
# podman runs with runc and cgroupfs (crun 1.8 refuses this hybrid host), its own temp storage,
# and rlimits under the host's hard limits (its defaults exceed them here and runc refuses).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
COUNT=${COUNT:-20}
work=$(mktemp -d /tmp/berth-bench-detached.XXXXXX)
berth=(env BERTH_ROOT="$work/berth-root" dist/bin/berth)   # the command as installed: its launcher
podman=(podman --runtime runc --cgroup-manager cgroupfs --events-backend none --root "$work/podman-root" --runroot "$work/podman-run" --storage-driver overlay)

remove_all() {
  local ids
  ids=$("${berth[@]}" ps -aq --no-trunc 2>/dev/null || true)
  [ -z "$ids" ] || "${berth[@]}" rm -f $ids >/dev/null 2>&1 || true
  "${podman[@]}" rm -af -t 0 >/dev/null 2>&1 || true
}
cleanup() {
  set +e # every step runs, whatever the one before did (a grep finding no mount "fails")
  remove_all
  "${podman[@]}" rmi -af >/dev/null 2>&1
  grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  # The monitors' exit commands (berth's and podman's cleanup) may still be finishing in the storage.
  for _ in $(seq 50); do pgrep -f -- "$work" >/dev/null || break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT

scripts/busybox-bundle.sh "$work/bundle" >/dev/null
tar -C "$work/bundle/rootfs" -cf "$work/rootfs.tar" .
"${berth[@]}" import "$work/rootfs.tar" bench/busybox:1 >/dev/null
"${berth[@]}" save -o "$work/image.tar" --format docker bench/busybox:1
"${podman[@]}" load -q -i "$work/image.tar" >/dev/null
podman_image=$("${podman[@]}" images --format '{{.Repository}}:{{.Tag}}' | grep 'bench/busybox:1$' | head -1)

NETWORK=${NETWORK:-none}   # both engines on the same footing; NETWORK=bridge for their default bridges
berth_run=("${berth[@]}" run -d --network "$NETWORK" bench/busybox:1 sleep 1000)
podman_run=("${podman[@]}" run -d --network "$NETWORK" --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 "$podman_image" sleep 1000)

# The processes an engine leaves resident for its containers: those whose command line names its
# storage (conmon's arguments do, for both engines) or whose environment has its BERTH_ROOT.
# Prints "pid comm rss_kib pss_kib" for each, the containers' own processes excluded.
resident() {
  local root=$1 pid comm
  for dir in /proc/[0-9]*; do
    pid=${dir#/proc/}
    [ "$pid" != "$$" ] && [ "$pid" != "$BASHPID" ] || continue
    case "$(tr '\0' ' ' 2>/dev/null <"$dir/cmdline") $(tr '\0' ' ' 2>/dev/null <"$dir/environ")" in
      *"$root"*) ;;
      *) continue ;;
    esac
    comm=$(cat "$dir/comm" 2>/dev/null) || continue
    awk -v pid="$pid" -v comm="$comm" '/^Rss:/ {rss=$2} /^Pss:/ {pss=$2} END {if (rss != "") print pid, comm, rss, pss}' "$dir/smaps_rollup" 2>/dev/null || true
  done
}

# One engine's round: COUNT sequential `run -d`, timed as a whole; then what stays resident.
round() {
  local name=$1 root=$2; shift 2
  local t0 t1 i
  t0=$(date +%s%N)
  for ((i = 0; i < COUNT; i++)); do "$@" >/dev/null; done
  t1=$(date +%s%N)
  local running
  if [ "$name" = berth ]; then running=$("${berth[@]}" ps -q | wc -l); else running=$("${podman[@]}" ps -q | wc -l); fi
  [ "$running" -eq "$COUNT" ] || { echo "$name: $running containers running, not $COUNT" >&2; exit 1; }
  resident "$root" | awk -v name="$name" -v ms="$(((t1 - t0) / 1000000))" -v n="$COUNT" '
    { if ($2 == "conmon") { crss += $3; cpss += $4; c++ } else { orss += $3; opss += $4; o++; what[$2]++ } }
    END { others = ""; for (k in what) others = others k "×" what[k] " ";
          printf "%s %d %d %.0f %.0f %d %.0f %.0f %s\n", name, ms, c, crss / n, cpss / n, o, orss / n, opss / n, others }'
  remove_all
}

# Once each, untimed and with output shown (a failure says why); berth unpacks its layers here.
"${berth_run[@]}"
"${podman_run[@]}"
remove_all

results=$work/results
for ((r = 0; r < ROUNDS; r++)); do
  # The engines take turns going first, so that a change of load falls on both alike.
  if ((r % 2 == 0)); then
    round berth "$work/berth-root" "${berth_run[@]}" >>"$results"
    round podman "$work/podman-root" "${podman_run[@]}" >>"$results"
  else
    round podman "$work/podman-root" "${podman_run[@]}" >>"$results"
    round berth "$work/berth-root" "${berth_run[@]}" >>"$results"
  fi
done

node -e '
const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => l.split(" "));
const count = Number(process.argv[2]);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const of = (engine) => rows.filter((r) => r[0] === engine);
const summary = {};
for (const engine of ["berth", "podman"]) {
  const rs = of(engine);
  summary[engine] = {
    ms: median(rs.map((r) => +r[1])), monitors: median(rs.map((r) => +r[2])),
    rss: median(rs.map((r) => +r[3])), pss: median(rs.map((r) => +r[4])),
    others: median(rs.map((r) => +r[5])), orss: median(rs.map((r) => +r[6])), opss: median(rs.map((r) => +r[7])),
    otherNames: [...new Set(rs.map((r) => r.slice(8).join(" ").trim()).filter(Boolean))].join("; ") || "none",
  };
}
console.log(`${count} detached containers, one after the other; medians of ${of("berth").length} rounds`);
console.log("engine   total ms   ms/ctr   monitors   monitor RSS/ctr   monitor PSS/ctr   other resident (RSS/PSS per ctr)");
for (const [engine, s] of Object.entries(summary)) {
  console.log(`${engine.padEnd(8)} ${s.ms.toFixed(0).padStart(8)}   ${(s.ms / count).toFixed(1).padStart(6)}   ${String(s.monitors).padStart(8)}   ${(s.rss / 1024).toFixed(2).padStart(11)} MiB   ${(s.pss / 1024).toFixed(2).padStart(11)} MiB   ${s.others} procs, ${(s.orss / 1024).toFixed(2)}/${(s.opss / 1024).toFixed(2)} MiB (${s.otherNames})`);
}
const b = summary.berth, p = summary.podman;
const perCtr = (s) => s.pss + s.opss;
// Rows come in pairs, one round each (the engines take turns going first): the per-round ratios.
const perRound = [];
for (let i = 0; i + 1 < rows.length; i += 2) {
  const [x, y] = rows[i][0] === "berth" ? [rows[i], rows[i + 1]] : [rows[i + 1], rows[i]];
  perRound.push(+x[1] / +y[1]);
}
console.log(`time   berth / podman   ${(b.ms / p.ms).toFixed(2)}× of medians, ${median(perRound).toFixed(2)}× median of rounds (${perRound.map((r) => r.toFixed(2)).join(" ")})   (target ≤ 0.5×, information only)`);
console.log(`memory berth / podman   ${(perCtr(b) / perCtr(p)).toFixed(2)}×   (PSS per container, monitor + others; target ≤ 1×, information only)`);
console.log(`       (RSS of the monitor alone: ${(b.rss / p.rss).toFixed(2)}×)`);
' "$results" "$COUNT"
echo "rounds (engine total_ms monitors monitor_rss_kib/ctr monitor_pss_kib/ctr others other_rss/ctr other_pss/ctr names):"
cat "$results"
