#!/usr/bin/env bash
# Runs every test. This is the README's test command and what CI runs.
# Installs what the tests need beyond the Rust toolchain first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-test-deps.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
  cargo test --workspace --doc
else
  cargo test --workspace
fi
./scripts/test-python.sh
