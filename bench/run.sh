#!/usr/bin/env bash
# Builds the release preset and runs every benchmark. Each prints its reference beside it.
# The figures are recorded in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake --preset release -G Ninja >/dev/null
cmake --build build/release -j "$(nproc)" --target capture_bench watch_bench change_log_bench \
  pgoutput_decode_bench json_encode_bench nats_bench trigger_bench consumer_bench shape_log_bench shape_bench watermelon_bench eddy
echo "== capture: eddy vs pg_recvlogical, latency vs a bare libpq reader"
build/release/bench/capture_bench "$@"
echo "== watch: SSE fan-out vs a bare libpq reader"
build/release/bench/watch_bench --seconds 10
echo "== trigger mode: pgbench TPS with eddy's outbox trigger vs none vs pg_notify per row"
build/release/bench/trigger_bench --seconds 15
echo "== JetStream publish (acked) vs capture without a sink"
build/release/bench/nats_bench
echo "== consumer delivery vs a raw LogReader and a bare subscription"
build/release/bench/consumer_bench
echo "== shape log vs plain write()/pread() of the same bytes"
build/release/bench/shape_log_bench
echo "== Shape API: initial sync vs COPY, 10k live shapes vs a bare libpq reader"
build/release/bench/shape_bench
echo "== WatermelonDB pull/push vs COPY of the same rows"
build/release/bench/watermelon_bench
echo "== micro-benchmarks"
build/release/bench/pgoutput_decode_bench --benchmark_min_time=1
build/release/bench/json_encode_bench --benchmark_min_time=1
build/release/bench/change_log_bench --benchmark_min_time=1
