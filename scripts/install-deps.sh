#!/usr/bin/env bash
# Installs every Debian 12 package eddy's build, tests and benchmarks need. Idempotent.
# Runs as root, or through sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-14 libclang-rt-14-dev clang-format
  libpq-dev postgresql-15 postgresql-client-15
  libboost1.81-dev libpg-query-dev libprotobuf-c-dev libsimdjson-dev libspdlog-dev libfmt-dev
  libcli11-dev libtomlplusplus-dev libssl-dev libnats-dev nats-server
  googletest libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
