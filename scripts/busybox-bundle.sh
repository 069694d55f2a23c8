#!/bin/sh
# Builds an OCI bundle whose rootfs is Debian's static busybox: DIR/rootfs and DIR/config.json.
#   scripts/busybox-bundle.sh DIR [ARGS...]     (ARGS: the process, default: sh)
# Needs busybox-static (/bin/busybox) and a built berth (for `berth-runtime spec`).
set -eu
dir=$1; shift
busybox=${BUSYBOX:-/bin/busybox}
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$busybox" ] || { echo "busybox-bundle: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
mkdir -p "$dir/rootfs"
cd "$dir/rootfs"
mkdir -p bin sbin usr/bin usr/sbin etc proc sys dev tmp root var/tmp home
chmod 1777 tmp var/tmp
cp "$busybox" bin/busybox
# One link per applet, where busybox itself would put it: made by one process, not an `ln` per
# applet (270 of them; a fork+exec each costs about 45 s in the emulated cgroup v2 guest).
"$busybox" --list-full | node -e '
const fs = require("fs");
for (const applet of fs.readFileSync(0, "utf8").split("\n").filter(Boolean)) {
  try {
    fs.symlinkSync("/bin/busybox", applet);
  } catch (err) {
    if (err.code !== "EEXIST") throw err;
  }
}'
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > etc/passwd
printf 'root:x:0:\nnogroup:x:65534:\n' > etc/group
cd "$dir"
rm -f config.json
"$here/dist/bin/berth-runtime" spec --bundle "$dir"
if [ $# -gt 0 ]; then
  node -e 'const fs = require("fs"); const c = JSON.parse(fs.readFileSync("config.json")); c.process.args = process.argv.slice(1); fs.writeFileSync("config.json", JSON.stringify(c, null, "\t") + "\n")' "$@"
fi
