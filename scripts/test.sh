#!/usr/bin/env bash
# Sets up a Debian 12 machine (packages via install-deps.sh), builds prom2gcm and runs every test:
#   1. the normal build and all ctest tests (unit and integration);
#   2. the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the concurrency tests under ThreadSanitizer;
#   4. each libFuzzer target for FUZZ_SECONDS (default 60).
# PROM2GCM_QUICK=1 runs step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

build_and_test() {  # build_and_test DIR CMAKE_ARGS CTEST_ARGS [TARGET...]
  local dir=$1 cmake_args=$2 ctest_args=$3
  shift 3
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  echo "== $dir: cmake $cmake_args; ctest $ctest_args"
  # shellcheck disable=SC2086
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo $cmake_args >/dev/null
  if ! cmake --build "$dir" -j"$jobs" "${targets[@]}" >"$dir.build.log" 2>&1; then
    grep -E "error|Error" "$dir.build.log" | head -40
    exit 1
  fi
  # shellcheck disable=SC2086
  ctest --test-dir "$dir" --output-on-failure -j"$jobs" $ctest_args
}

build_and_test build "" ""
[ "${PROM2GCM_QUICK:-0}" = 1 ] && exit 0

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build_and_test build-asan "-DPROM2GCM_SANITIZE=address,undefined" "-L unit"

export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# Only tests whose threads synchronise through code TSan can see (ours and the standard library);
# uninstrumented libraries (gRPC, cpp-httplib) would report false races.
build_and_test build-tsan "-DPROM2GCM_SANITIZE=thread" "-R ^(exporter_test)$" exporter_test

scripts/fuzz.sh
