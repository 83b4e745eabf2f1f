#!/usr/bin/env bash
# Installs every Debian package Orbit needs to build, test and benchmark.
# Idempotent: packages already present are not fetched again. Called by the
# Makefile's run, test and bench targets (and so by .ci/run).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  librocksdb-dev liblz4-dev libzstd-dev libxxhash-dev
  libcmocka-dev clang libclang-rt-14-dev
  libgrpc-dev libprotobuf-c-dev protobuf-c-compiler
  etcd-server etcd-client
  libjansson-dev libevent-dev
  redis-tools redis-server python3-redis python3-numpy curl
  python3-grpcio python3-protobuf protobuf-compiler openssl
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
