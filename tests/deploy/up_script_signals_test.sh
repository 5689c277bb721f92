#!/usr/bin/env bash
# scripts/up.sh must stop on a Ctrl-C at any moment. Bash 5.2 (Debian 12's)
# can lose a signal, or fail to parse the INT trap, when it arrives while
# bash expands a command or process substitution (a CI run exited 2 instead
# of 130 that way). So after up.sh sets its traps it must use none: this
# checks that, since a timed test hits the window only now and then.
set -euo pipefail
root="${1:?usage: up_script_signals_test.sh SOURCE_DIR}"
script="$root/scripts/up.sh"

trap_line="$(grep -n "^trap 'exit 130'" "$script" | cut -d: -f1)"
if [[ -z $trap_line ]]; then
  echo "$script: no \"trap 'exit 130'\" line; update this test" >&2
  exit 1
fi
# Code lines after the traps (not comments) with $( but not $((, or <( >( or `.
found="$(awk -v from="$trap_line" 'NR > from && !/^[[:space:]]*#/ &&
  (/\$\([^(]/ || /[<>]\(/ || /`/) { print FILENAME ":" NR ": " $0 }' "$script")"
if [[ -n $found ]]; then
  echo "command or process substitution after up.sh's traps (see the comment there):" >&2
  echo "$found" >&2
  exit 1
fi
echo "ok: no substitution after up.sh's traps"
