#!/usr/bin/env bash
# Set up (or reuse) .venv and run the otel_ml demo. Extra arguments go to `otel-ml demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
exec .venv/bin/otel-ml demo "$@"
