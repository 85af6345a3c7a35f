#!/usr/bin/env bash
# The Python client (clients/python): lints, types, then pytest against a
# real `sxfer serve` built by the cargo tests (target/debug/sxfer).
# Needs scripts/install-test-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/py-venv
[ -x target/debug/sxfer ] || cargo build -p sxfer
cd clients/python
"../../$venv/bin/ruff" check src tests
"../../$venv/bin/ruff" format --check src tests
"../../$venv/bin/mypy"
SXFER_BIN="${SXFER_BIN:-target/debug/sxfer}" "../../$venv/bin/pytest" -q -p no:cacheprovider
