#!/usr/bin/env bash
# Set up (or reuse) .venv and run the otel_ml demo. Extra arguments go to `otel-ml demo`.
# The demo's alert and remediation stages run the real Prometheus and Alertmanager: the Debian
# packages prometheus and prometheus-alertmanager are installed when missing and this runs as root
# (as scripts/test.sh does); otherwise the one install line is printed and the demo runs its drift
# and accuracy part only.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || command -v alertmanager >/dev/null 2>&1 \
  || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian packages: ${missing[*]} (the demo's alert path)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  else
    echo "==> ${missing[*]} not installed: the alert and remediation stages need them." >&2
    echo "    Install once with:  sudo apt-get install -y prometheus prometheus-alertmanager" >&2
    echo "    Running the drift and accuracy part only." >&2
  fi
fi
scripts/setup.sh demo
exec .venv/bin/otel-ml demo "$@"
