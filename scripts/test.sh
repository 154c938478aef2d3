#!/usr/bin/env bash
# Runs every test: installs what is missing, builds the Debug preset (ASan + UBSan), runs ctest
# (unit, golden and integration tests against a real, throwaway PostgreSQL 15), checks formatting,
# then runs each libFuzzer target briefly. Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset debug -G Ninja >/dev/null
cmake --build build/debug -j "$(nproc)"
(cd build/debug && ctest --output-on-failure "$@")
bash scripts/check-format.sh
bash scripts/fuzz.sh 20
