#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install otel-ml into it.
#   scripts/setup.sh            processor + sklearn extras (what the demo needs)
#   scripts/setup.sh dev        everything the test suite needs (adds onnx, torch CPU, pytest)
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-demo}"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "otel-ml needs Python >= 3.10; set PYTHON=/path/to/python3.x" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating virtual environment in .venv"
  "$py" -m venv .venv
fi
stamp=".venv/.otel-ml-${profile}.stamp"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
dev_stamp=".venv/.otel-ml-dev.stamp"  # dev includes everything demo needs
if { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; } || \
   { [ "$profile" = demo ] && [ -f "$dev_stamp" ] && [ "$(cat "$dev_stamp")" = "$want" ]; }; then
  echo "==> .venv is up to date ($profile)"
  exit 0
fi
log=.venv/install.log
: > "$log"
pip_install() {
  # everything goes to the log; the packages being fetched and installed are shown as progress,
  # and on failure the log's tail
  if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off "$@" 2>&1 \
      | tee -a "$log" | { grep --line-buffered -E '^(Collecting|Installing collected|Successfully installed)' \
      | cut -c1-100 | sed -u 's/^/    /' || true; }; then
    tail -n 40 "$log" >&2
    echo "pip install $* failed (full log: $log)" >&2
    exit 1
  fi
}
pip_install --upgrade pip setuptools wheel
case "$profile" in
  demo) echo "==> installing otel-ml[processor,sklearn] (log: $log)"; pip_install -e ".[processor,sklearn]" ;;
  dev)
    echo "==> installing otel-ml[dev] and the CPU build of torch (log: $log)"
    # The tests need torch, and only its CPU build: take a local wheel where pip's find-links has
    # one, else PyTorch's CPU index (its "+cpu" build outranks PyPI's CUDA build of the same version).
    torch_spec="torch==${OTEL_ML_TORCH_VERSION:-2.13.0}"
    if .venv/bin/python -m pip install --dry-run --no-deps --no-index -q "$torch_spec" >/dev/null 2>&1; then
      pip_install "$torch_spec"
    else
      pip_install --extra-index-url https://download.pytorch.org/whl/cpu "$torch_spec"
    fi
    pip_install -e ".[dev]"
    ;;
  *) echo "unknown profile '$profile' (expected: demo, dev)" >&2; exit 2 ;;
esac
echo "$want" > "$stamp"
