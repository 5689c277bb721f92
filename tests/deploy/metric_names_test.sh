#!/usr/bin/env bash
# Every metric that deploy/prometheus/alerts.yml alerts on and that the
# README's "Metrics" section lists is one the code registers: an alert on a
# misspelled name would never fire. Also checks that the compose file's
# Prometheus loads the alerts.
#
#   tests/deploy/metric_names_test.sh SOURCE_DIR
set -euo pipefail
root="${1:?usage: metric_names_test.sh SOURCE_DIR}"
cd "$root"

registered="$(grep -rhoE 'Name\("ebats_[a-z_]+"\)' libs services |
  sed -E 's/Name\("(.*)"\)/\1/' | sort -u)"
[[ -n $registered ]] || { echo "no registered ebats_ metrics found" >&2; exit 1; }

used() {
  grep -oE 'ebats_[a-z_]+' |
    # Histogram series carry the family name plus a suffix.
    sed -E 's/_(bucket|count|sum)$//' | sort -u
}
failed=0
check() {  # check WHERE NAMES
  local where="$1" name
  while read -r name; do
    [[ -z $name ]] && continue
    if ! grep -qx "$name" <<<"$registered"; then
      echo "$where names $name, which no service registers" >&2
      failed=1
    fi
  done <<<"$2"
}
check deploy/prometheus/alerts.yml "$(used <deploy/prometheus/alerts.yml)"
check "README.md (Metrics)" \
  "$(sed -n '/^## Metrics/,/^## /p' README.md | used)"
# And the other way: every registered metric is documented.
documented="$(sed -n '/^## Metrics/,/^## /p' README.md | used)"
while read -r name; do
  if ! grep -qx "$name" <<<"$documented"; then
    echo "$name is registered but missing from README.md (Metrics)" >&2
    failed=1
  fi
done <<<"$registered"

if ! grep -q 'alerts.yml' deploy/prometheus/prometheus.yml; then
  echo "deploy/prometheus/prometheus.yml does not load alerts.yml" >&2
  failed=1
fi
if ! grep -q 'deploy/prometheus/alerts.yml' docker-compose.yml; then
  echo "docker-compose.yml does not mount deploy/prometheus/alerts.yml" >&2
  failed=1
fi
((failed == 0)) && echo "metric names: $(wc -l <<<"$registered") registered, alerts and README agree"
exit "$failed"
