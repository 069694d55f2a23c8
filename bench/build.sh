#!/usr/bin/env bash
# A multi-stage Dockerfile (two stages, three RUNs, a 200-file COPY, COPY --from, config steps),
# built cold (--no-cache) and rebuilt from the cache, by `berth build` and by Debian's buildah
# (`buildah build --layers`, the classic builder's per-step cache), with hyperfine, the commands
# taking turns round by round; medians and same-run ratios printed, with the load average. Both
# start from the same busybox base image in their own store (berth's made by `berth import`,
# buildah's pulled from `berth save`'s archive: the same image id), with RUN on no network. Run
# from the project root after `npm run build`, as root. See bench/README.md.
#   RUNS=7 ISOLATION=oci bash bench/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
# buildah's RUN isolation: oci (a runc container: namespaces, cgroups, as berth's RUN) or chroot.
ISOLATION=${ISOLATION:-oci}
for tool in buildah hyperfine runc; do command -v "$tool" >/dev/null || { echo "bench/build.sh: $tool not installed (apt-get install $tool, or scripts/setup.sh)" >&2; exit 1; }; done
[ -x /bin/busybox ] || { echo "bench/build.sh: no /bin/busybox (apt-get install busybox-static)" >&2; exit 1; }
[ -f dist/bin/berth.mjs ] || { echo "bench/build.sh: run npm run build first" >&2; exit 1; }

W=$(mktemp -d /tmp/berth-bench-build-XXXXXX)
BERTH="env BERTH_ROOT=$W/berth $PWD/dist/bin/berth"
BUILDAH="buildah --root $W/buildah-root --runroot $W/buildah-run --storage-driver overlay"
cleanup() {
  set +e
  # buildah's working containers and images hold overlay mounts under its root: taken down first,
  # then whatever mount is still under the temp dir, then the dir.
  $BUILDAH rm --all >/dev/null 2>&1 || true
  $BUILDAH rmi --all --force >/dev/null 2>&1 || true
  ids=$($BERTH ps -aq 2>/dev/null || true)
  [ -n "$ids" ] && $BERTH rm -f $ids >/dev/null 2>&1 || true
  grep -F " $W/" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The base: busybox-static with its applets, /etc/passwd and /tmp, as one layer.
mkdir -p "$W/rootfs/bin" "$W/rootfs/etc" "$W/rootfs/tmp"
cp /bin/busybox "$W/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$W/rootfs/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$W/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$W/rootfs/etc/group"
chmod 1777 "$W/rootfs/tmp"
tar -C "$W/rootfs" -cf "$W/rootfs.tar" .
$BERTH import "$W/rootfs.tar" bench/base:1 >/dev/null
$BERTH save -o "$W/base.tar" bench/base:1
$BUILDAH pull -q "docker-archive:$W/base.tar" >/dev/null

# The context: 200 source files of 4 KiB, a config dir, files .dockerignore leaves out.
C="$W/context"
mkdir -p "$C/src" "$C/config" "$C/logs"
for i in $(seq 1 200); do head -c 4096 /dev/urandom | base64 -w 64 >"$C/src/part-$i.txt"; done
printf 'name=bench\nlevel=3\n' >"$C/config/app.conf"
head -c 1048576 /dev/urandom >"$C/logs/ignored.log"
printf 'logs\n*.log\n' >"$C/.dockerignore"
cat >"$C/Dockerfile" <<'EOF'
FROM bench/base:1 AS build
ARG LEVEL=3
WORKDIR /src
COPY src/ ./
RUN mkdir -p /out && for f in part-*.txt; do sort "$f" > "/out/$f.sorted"; done
RUN cd /out && sha256sum *.sorted > SUMS && tar -cf /out/bundle.tar *.sorted && rm *.sorted

FROM bench/base:1
ENV APP=/app MODE=production
WORKDIR /app
COPY --from=build /out/SUMS /out/bundle.tar ./
COPY config/ ./config/
RUN tar -tf bundle.tar | wc -l > count && ls -la > listing
LABEL org.example.bench=build
EXPOSE 8080
USER nobody
CMD ["cat", "/app/SUMS"]
EOF

# buildah's chroot isolation has no network namespace: it takes only --network host.
BUILDAH_NETWORK=none
[ "$ISOLATION" = chroot ] && BUILDAH_NETWORK=host
BUILDAH_BUILD="$BUILDAH build --quiet --layers --isolation $ISOLATION --runtime $(command -v runc) --network $BUILDAH_NETWORK"
names=("berth build cold" "buildah build cold" "berth build cached" "buildah build cached")
commands=(
  "$BERTH build -q --no-cache --network none -t bench/app:cold $C"
  "$BUILDAH_BUILD --no-cache -t bench/app:cold $C"
  "$BERTH build -q --network none -t bench/app:cached $C"
  "$BUILDAH_BUILD -t bench/app:cached $C"
)
# Each command once with its output shown (hyperfine hides why a command fails); this also fills
# both caches for the cached rows.
for i in "${!names[@]}"; do
  bash -c "${commands[$i]}" >/dev/null || { echo "bench/build.sh: ${names[$i]} failed" >&2; exit 1; }
done
# The images are the same program: both print the same SUMS.
berth_sums=$($BERTH run --rm --network none bench/app:cached | sha256sum)
ctr=$($BUILDAH from -q bench/app:cached)
buildah_sums=$(sha256sum <"$($BUILDAH mount "$ctr")/app/SUMS")
$BUILDAH rm "$ctr" >/dev/null
[ "$berth_sums" = "$buildah_sums" ] || { echo "bench/build.sh: the two images differ (/app/SUMS)" >&2; exit 1; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs); buildah --isolation $ISOLATION, RUN on network $BUILDAH_NETWORK (berth: none)"
for ((round = 1; round <= RUNS; round++)); do
  for i in "${!names[@]}"; do
    hyperfine --style none --runs 1 --export-json "$W/round-$round-$i.json" -n "${names[$i]}" "${commands[$i]}" >/dev/null
  done
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
node bench/rounds-report.mjs '[["berth build cold","buildah build cold",0.7],["berth build cached","buildah build cached",0.5],["berth build cached","berth build cold"],["buildah build cached","buildah build cold"]]' "$W"/round-*.json
