#!/usr/bin/env bash
# Installs every Debian 12 package eddy's build, tests and benchmarks need. Idempotent.
# Runs as root, or through sudo when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-14 libclang-rt-14-dev clang-format
  libpq-dev postgresql-15 postgresql-client-15
  libboost1.81-dev libpg-query-dev libprotobuf-c-dev libsimdjson-dev libspdlog-dev libfmt-dev zlib1g-dev
  libcli11-dev libtomlplusplus-dev libssl-dev libnats-dev nats-server
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  nodejs chromium openssl nginx
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -ne 0 ]; then

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm comes with nodesource's nodejs; Debian's nodejs needs the separate package.
if ! command -v npm >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm
fi

# The Node test clients, pinned by tests/node/package-lock.json (no browser download: the tests
# drive Debian's chromium).
if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
  (cd "$(dirname "$0")/../tests/node" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
