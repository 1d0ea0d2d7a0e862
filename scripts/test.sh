#!/usr/bin/env bash
# Set up everything the test suite needs and run it: the Debian packages prometheus and
# prometheus-alertmanager (installed when missing and running as root), the .venv, then pytest.
# A full run (no arguments) first checks the declared minimum versions (scripts/test_floors.sh,
# its own .venv-floors; OTEL_ML_SKIP_FLOORS=1 skips it).
# Extra arguments go to pytest, e.g. scripts/test.sh tests/stats -x
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
{ command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1; } \
  && command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # HTML report tests (tests/report)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "The test suite runs the real Prometheus and Alertmanager, and these are missing: ${missing[*]}." >&2
    echo "Install them once as root:  sudo apt-get install -y ${missing[*]}" >&2
    echo "then run this command again (as yourself)." >&2
    exit 1
  fi
fi
scripts/setup.sh dev
if [ $# -eq 0 ] && [ "${OTEL_ML_SKIP_FLOORS:-0}" != 1 ]; then
  scripts/test_floors.sh
fi
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
