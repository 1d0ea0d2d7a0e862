#!/usr/bin/env bash
# The declared minimum versions work: install otel-ml[sdk,sklearn] with every dependency pinned to
# the floor pyproject.toml declares (scripts/floor_constraints.py) into .venv-floors, then run the
# instrumentation and SDK set-up tests there. Torch and ONNX Runtime are left out (size); their
# instrumentors are tested in the main venv. Called by scripts/test.sh unless OTEL_ML_SKIP_FLOORS=1.
# Also left out: one test of an optimisation that needs Logger.enabled() (OTel SDK >= 1.45); on
# older SDKs prediction ids are generated even when no log processor listens, nothing else differs.
# And the batch-scoring delivery test, which runs the processor (the [processor] extra).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
venv=.venv-floors
constraints="$venv/floors.txt"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" scripts/floor_constraints.py sdk sklearn > "$constraints.new"
if ! cmp -s "$constraints.new" "$constraints" || [ ! -f "$venv/.installed" ]; then
  echo "==> floors: installing otel-ml[sdk,sklearn] at the declared minimum versions into $venv"
  mv "$constraints.new" "$constraints"
  rm -f "$venv/.installed"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -c "$constraints" \
    '.[sdk,sklearn]' 'pytest>=8' 'pytest-timeout>=2.2' 'pytest-asyncio>=0.23'
  touch "$venv/.installed"
else
  rm -f "$constraints.new"
  echo "==> floors: $venv is current"
  # the package itself may have changed since: reinstall it alone (dependencies stay pinned)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall .
fi
"$venv/bin/python" -m pip freeze --disable-pip-version-check | grep -iE '^(opentelemetry-(api|sdk)|numpy|scikit-learn)==' \
  | tr '\n' ' ' | sed 's/^/==> floors: /; s/ $/\n/'
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q tests/instrumentation \
  --ignore tests/instrumentation/test_batch_scoring_delivery.py \
  --deselect tests/instrumentation/test_instrumentors.py::test_torch_top_level_module_only \
  --deselect tests/instrumentation/test_instrumentors.py::test_onnxruntime_session_run \
  --deselect tests/instrumentation/test_instrumentors.py::test_dependencies_name_the_supported_ranges \
  --deselect tests/instrumentation/test_events.py::test_ids_never_leak_from_the_previous_call_when_no_logger_listens
