#!/bin/bash
# What a seccomp filter costs a container's start: berth-runtime, crun and runc each run the same
# busybox /bin/true bundle with and without the containers-common default profile (podman's,
# converted to linux.seccomp for Docker's default capabilities), in one run; and, inside one Node
# process, berth's cold compile of that profile against the load from its on-disk cache. Prints
# medians and ratios. See bench/README.md.
#   bash bench/seccomp.sh            (as root, after `npm run build`)
#   RUNS=50 WARMUP=5 LIB_RUNS=300 bash bench/seccomp.sh
# A benchmark reports, it does not judge: it exits non-zero only when something could not be
# measured at all (and says what).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${RUNS:-30}
WARMUP=${WARMUP:-3}
LIB_RUNS=${LIB_RUNS:-200}
NODE=${NODE:-node}
cli=$here/dist/bin/berth-runtime
profile_source=/usr/share/containers/seccomp.json

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (containers need it)"
[ -f "$cli" ] && [ -f "$here/dist/test/helpers/seccomp-profile.js" ] || die "dist/ missing: build first (npm run build)"
[ -f "$profile_source" ] || die "$profile_source missing (Debian package golang-github-containers-common)"
for tool in hyperfine crun runc unshare nsenter "$NODE"; do
  command -v "$tool" >/dev/null || die "$tool not found"
done

work=$(mktemp -d /tmp/berth-bench-seccomp.XXXXXX)
nsfile=$work/mntns   # crun's persistent mount namespace (see bench/runtime.sh: crun 1.8 refuses hybrid cgroups)
cgroup=berth-bench-seccomp-$$
cleanup() {
  set +e
  if [ -e "$nsfile" ]; then
    umount "$nsfile" 2>/dev/null
    rm -f "$nsfile"
  fi
  for d in /sys/fs/cgroup/*/"$cgroup" /sys/fs/cgroup/"$cgroup"; do
    [ -d "$d" ] && rmdir "$d" 2>/dev/null
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
q() { printf '%q ' "$@"; }

# --- two bundles over one rootfs: the same config.json, with and without linux.seccomp -------------
sh "$here/scripts/busybox-bundle.sh" "$work/plain" /bin/true >/dev/null
mkdir "$work/filtered"
"$NODE" --input-type=module -e '
  import { readFileSync, writeFileSync } from "node:fs";
  const [work, cgroup, helper] = process.argv.slice(1);
  const { containersCommonProfile } = await import(helper);
  // Docker'"'"'s default capabilities decide which of the profile'"'"'s conditional rules apply.
  const dockerCaps = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"];
  const c = JSON.parse(readFileSync(`${work}/plain/config.json`, "utf8"));
  c.ociVersion = "1.0.2";                 // crun 1.8 wants "1.0" in the version (bench/runtime.sh)
  c.process.terminal = false;
  c.process.args = ["/bin/true"];
  c.root.path = `${work}/plain/rootfs`;
  c.linux.cgroupsPath = "/" + cgroup;      // the same place for runc and crun (bench/runtime.sh)
  writeFileSync(`${work}/plain/config.json`, JSON.stringify(c, null, "\t"));
  const profile = containersCommonProfile(dockerCaps);
  c.linux.seccomp = profile;
  writeFileSync(`${work}/filtered/config.json`, JSON.stringify(c, null, "\t"));
  writeFileSync(`${work}/profile.json`, JSON.stringify(profile));
' "$work" "$cgroup" "$here/dist/test/helpers/seccomp-profile.js"
mkdir -p "$work/root-berth" "$work/root-crun" "$work/root-runc"
touch "$nsfile"
unshare --mount="$nsfile" --propagation private mount -t tmpfs none /sys/fs/cgroup/unified

echo "bench: $(uname -r), node $("$NODE" --version), $(crun --version | head -1), $(runc --version | head -1), libseccomp $("$NODE" -e 'import("'"$here"'/dist/src/kernel/seccomp.js").then((m) => console.log(m.libseccompVersion()))')"
echo "bench: busybox /bin/true, $RUNS runs after $WARMUP warm-up runs each; library: $LIB_RUNS iterations"

failed=()
smoke() { # NAME CMD...: one run with its output shown, since hyperfine hides why a command fails
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then return 0; fi
  echo "bench: $name failed, left out: ${out:-exit status $?}" >&2
  failed+=("$name")
  return 1
}
hf=(hyperfine -N --style basic --warmup "$WARMUP" --runs "$RUNS")
results=()
host=()
crun_cmds=()
for kind in plain filtered; do
  b=$(q "$cli" --root "$work/root-berth" run --bundle "$work/$kind" "b-$kind")
  r=$(q runc --root "$work/root-runc" run --bundle "$work/$kind" "r-$kind")
  c=$(q crun --root "$work/root-crun" run --bundle "$work/$kind" "c-$kind")
  if smoke "berth-runtime run ($kind)" bash -c "$b"; then host+=(-n "berth-runtime $kind" "$b"); fi
  if smoke "runc run ($kind)" bash -c "$r"; then host+=(-n "runc $kind" "$r"); fi
  if smoke "crun run ($kind)" nsenter --mount="$nsfile" bash -c "$c"; then crun_cmds+=(-n "crun $kind" "$c"); fi
done
if [ ${#host[@]} -gt 0 ]; then
  "${hf[@]}" --export-json "$work/host.json" "${host[@]}"
  results+=("$work/host.json")
fi
if [ ${#crun_cmds[@]} -gt 0 ]; then
  nsenter --mount="$nsfile" "${hf[@]}" --export-json "$work/crun.json" "${crun_cmds[@]}"
  results+=("$work/crun.json")
fi

echo "Benchmark: berth's filter in-process: cold compile vs the on-disk cache"
if "$NODE" "$here/bench/seccomp-lib.mjs" "$work/profile.json" "$work/root-berth/.seccomp-bench" "$LIB_RUNS" 20 >"$work/lib.json"; then
  results+=("$work/lib.json")
else
  failed+=('library compile/cache')
fi

left=$(find "$work/root-berth" "$work/root-crun" "$work/root-runc" -mindepth 1 -maxdepth 1 ! -name '.seccomp*' 2>/dev/null | sed "s|^$work/||")
[ ${#results[@]} -gt 0 ] && "$NODE" "$here/bench/seccomp-report.mjs" "${results[@]}"
cleanup
trap - EXIT
echo ""
echo "state dirs left in the runtimes' roots: ${left:-none}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "not measured: ${failed[*]}" >&2
  exit 1
fi
