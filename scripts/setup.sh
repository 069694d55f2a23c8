#!/bin/sh
# Installs what berth needs on a fresh Debian machine (as root), then builds it:
# Debian packages (apt-get), npm packages (npm ci: also builds the native addon and the TypeScript).
# One package a line, sorted: what berth runs on, builds with, and what its tests drive.
set -eu
cd "$(dirname "$0")/.."
packages="
  attr
  build-essential
  buildah
  busybox-static
  conmon
  containerd
  containernetworking-plugins
  crun
  docker-compose
  docker-registry
  docker.io
  fish
  gnupg
  golang-docker-credential-helpers
  golang-github-containers-common
  golang-github-docker-docker-dev
  hyperfine
  iproute2
  iptables
  libcap2-bin
  libseccomp-dev
  nftables
  openssl
  pass
  podman
  procps
  python3
  runc
  skopeo
  tini
  util-linux
  zsh
  zstd
"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  export DEBIAN_FRONTEND=noninteractive
  # docker.io and containerd ship services (dockerd, containerd): the tests drive berth with
  # docker's CLI, and no other engine may start here. policy-rc.d's 101 stops invoke-rc.d and
  # deb-systemd-invoke from starting any, for the install's time.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
npm ci --no-audit --no-fund --foreground-scripts=false >/dev/null
