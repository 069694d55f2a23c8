#!/bin/sh
# Installs what berth needs on a fresh Debian machine (as root), then builds it:
# Debian packages (apt-get), npm packages (npm ci: also builds the native addon and the TypeScript).
# One package a line, sorted: what berth runs on, builds with, and what its tests drive.
set -eu
cd "$(dirname "$0")/.."
packages="
  attr
  build-essential
  busybox-static
  conmon
  containerd
  docker-registry
  fish
  golang-github-containers-common
  iproute2
  iptables
  libcap2-bin
  libseccomp-dev
  nftables
  openssl
  podman
  procps
  python3
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
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
npm ci --no-audit --no-fund --foreground-scripts=false >/dev/null
