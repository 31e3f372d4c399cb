#!/usr/bin/env bash
# Installs every Debian 12 package prom2gcm needs to build, test and run its main job.
# Idempotent and quiet when everything is already there. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git curl ca-certificates
  libcpp-httplib-dev libssl-dev libcrypt-dev openssl zlib1g-dev libbrotli-dev libre2-dev
  libprotobuf-dev protobuf-compiler
  libsnappy-dev libxxhash-dev
  libgrpc++-dev protobuf-compiler-grpc
  libgoogle-glog-dev libgflags-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev
  libcli11-dev docker-compose
  clang libclang-rt-14-dev
  prometheus prometheus-node-exporter victoria-metrics
  python3 gnuplot-nox
  python3-protobuf python3-snappy
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# Keep the packaged daemons (prometheus, node-exporter, vmagent) from starting on install:
# tests start their own copies on free loopback ports.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod +x "$policy"
  created_policy=1
fi
trap '[ $created_policy -eq 1 ] && $SUDO rm -f "$policy"' EXIT
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
