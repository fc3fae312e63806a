#!/usr/bin/env bash
# The whole check, exactly as CI runs it (.ci/run): install the project with its test
# dependencies and the system tools the tests use, then ruff, mypy, import-linter and pytest.
# Extra arguments go to pytest (e.g. `scripts/test.sh -m "not slow"`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python3 -m pip install --quiet -e '.[dev]'
for tools in scripts/install-ops-tools.sh scripts/install-monitoring-tools.sh; do
    if [ -f "$tools" ]; then bash "$tools"; fi
done
echo "== ruff"; python3 -m ruff check . && python3 -m ruff format --check .
echo "== mypy"; python3 -m mypy
echo "== import-linter"; lint-imports
echo "== pytest"; python3 -m pytest "$@"
