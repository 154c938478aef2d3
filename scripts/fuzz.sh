#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (the "fuzz" preset) and runs each for a while on a copy
# of its seed corpus. Usage: scripts/fuzz.sh [seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-20}"
cmake --preset fuzz -G Ninja >/dev/null
cmake --build build/fuzz -j "$(nproc)" --target pgoutput_fuzzer change_codec_fuzzer nats_body_fuzzer \
  consumer_fuzzer outbox_record_fuzzer shape_offset_fuzzer shape_request_fuzzer where_fuzzer watermelon_push_fuzzer
for target in pgoutput_fuzzer change_codec_fuzzer nats_body_fuzzer consumer_fuzzer \
  outbox_record_fuzzer shape_offset_fuzzer shape_request_fuzzer where_fuzzer watermelon_push_fuzzer; do
  corpus="$(mktemp -d)"
  seeds="tests/fuzz/corpus/${target%_fuzzer}"
  if [ -d "$seeds" ]; then cp -r "$seeds"/. "$corpus"/; fi
  echo "fuzzing $target for ${seconds}s"
  build/fuzz/tests/fuzz/"$target" -max_total_time="$seconds" -print_final_stats=0 "$corpus" \
    2>&1 | tail -n 2
  rm -rf "$corpus"
done
