#!/usr/bin/env bash
# Runs the whole test suite: unit, integration and end-to-end tests, each
# integration/e2e binary against a private RabbitMQ node it starts itself.
# Installs missing Debian packages, builds into build/, exits non-zero on any
# failure.
#
#   scripts/test.sh              release build (RelWithDebInfo)
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build in build-asan/
#   scripts/test.sh -L unit      extra arguments go to ctest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_dir="$EBATS_ROOT/build"
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ ${1:-} == --sanitize ]]; then
  shift
  build_dir="$EBATS_ROOT/build-asan"
  cmake_args=(-DCMAKE_BUILD_TYPE=Debug -DEBATS_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi

ebats_install_deps
ebats_build "$build_dir" "${cmake_args[@]}"
cd "$build_dir"
ctest --output-on-failure -j2 "$@"
