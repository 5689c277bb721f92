#!/usr/bin/env bash
# Runs the whole test suite: unit, integration and end-to-end tests (each
# integration/e2e binary against a private RabbitMQ node it starts itself),
# first in a release build (build/), then again under AddressSanitizer,
# LeakSanitizer and UBSan (build-asan/). Installs missing Debian packages.
# Exits non-zero on any failure.
#
#   scripts/test.sh                the whole suite, both builds
#   scripts/test.sh --quick        release build only
#   scripts/test.sh --sanitize     sanitizer build only
#   scripts/test.sh -- -L unit     arguments after -- go to ctest
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

modes=(release sanitize)
case "${1:-}" in
  --quick) modes=(release); shift ;;
  --sanitize) modes=(sanitize); shift ;;
esac
[[ ${1:-} == -- ]] && shift

ebats_install_deps
for mode in "${modes[@]}"; do
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
