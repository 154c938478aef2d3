#!/usr/bin/env bash
# Runs eddy's main job: builds eddy (release) and runs `eddy dev`, which starts a throwaway
# PostgreSQL 15 with the demo media-library schema unless DATABASE_URL or --database is given,
# and tails every change. Extra arguments go to `eddy dev`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -G Ninja >/dev/null
cmake --build build/release -j "$(nproc)" --target eddy
exec build/release/src/cli/eddy dev "$@"
