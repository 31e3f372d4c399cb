#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (AddressSanitizer + UndefinedBehaviorSanitizer) and runs each
# for FUZZ_SECONDS (default 60), seeded from testdata/ and fuzz/corpus/<target>/. Fails on any crash,
# leak or sanitizer report. New interesting inputs land in build-fuzz/corpus/<target>/; copy the ones
# worth keeping into fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPROM2GCM_FUZZ=ON \
  -DPROM2GCM_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target decode_v1_fuzzer decode_v2_fuzzer write_handler_fuzzer
for target in decode_v1_fuzzer decode_v2_fuzzer write_handler_fuzzer; do
  corpus=build-fuzz/corpus/$target
  mkdir -p "$corpus" "fuzz/corpus/$target"
  echo "fuzz: $target for ${seconds}s"
  # -rss_limit_mb guards against decompression bombs slipping through; -timeout against hangs.
  build-fuzz/fuzz/$target -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/ "$corpus" "fuzz/corpus/$target" testdata/v1 testdata/v2 2>&1 | tail -12
done
echo "fuzz: no crash, leak or sanitizer report"
