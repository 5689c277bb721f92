#!/usr/bin/env bash
# Runs the whole test suite: unit, integration and end-to-end tests (each
# integration/e2e binary against a private RabbitMQ node it starts itself),
# the fault suite among them, first in a release build (build/), then again
# under AddressSanitizer, LeakSanitizer and UBSan (build-asan/); then the
# libFuzzer targets, built with clang (build-fuzz/), for EBATS_FUZZ_SECONDS
# each (60 by default). Installs missing Debian packages. Exits non-zero on
# any failure.
#
#   scripts/test.sh                everything
#   scripts/test.sh --quick        release build only
#   scripts/test.sh --sanitize     sanitizer build only
#   scripts/test.sh --fuzz         fuzz targets only
#   scripts/test.sh -- -L unit     arguments after -- go to ctest
#                                  (labels: unit, integration, e2e, fault)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

modes=(release sanitize fuzz)
case "${1:-}" in
  --quick) modes=(release); shift ;;
  --sanitize) modes=(sanitize); shift ;;
  --fuzz) modes=(fuzz); shift ;;
esac
[[ ${1:-} == -- ]] && shift

ebats_install_deps
for mode in "${modes[@]}"; do
  if [[ $mode == fuzz ]]; then
    dir="$EBATS_ROOT/build-fuzz"
    if [[ ! -f "$dir/build.ninja" ]]; then
      CC=clang CXX=clang++ cmake -S "$EBATS_ROOT" -B "$dir" -G Ninja \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBATS_BUILD_TESTS=OFF \
        -DEBATS_FUZZ=ON >/dev/null
    fi
    cmake --build "$dir" --target task_message_fuzzer params_fuzzer -- -j"$(nproc)"
    echo "== fuzz (${EBATS_FUZZ_SECONDS:-60} s per target; $dir)"
    (cd "$dir" && ctest --output-on-failure -j2 -L fuzz)
    continue
  fi
  if [[ $mode == release ]]; then
    dir="$EBATS_ROOT/build"
    ebats_build "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  else
    dir="$EBATS_ROOT/build-asan"
    ebats_build "$dir" -DCMAKE_BUILD_TYPE=Debug -DEBATS_SANITIZE=ON
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  fi
  echo "== $mode tests ($dir)"
  (cd "$dir" && ctest --output-on-failure -j2 "$@")
done
