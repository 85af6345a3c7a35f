#!/usr/bin/env bash
# Debian packages the tests use: `age` (stored blobs must decrypt with the
# stock tool) and `ssh-keygen` (fingerprints must match OpenSSH's). Then a
# virtual environment with the Python client and its test tools
# (clients/python, PyPI only), at target/py-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v age >/dev/null 2>&1 || need+=(age)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test dependencies: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
venv=target/py-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -e './clients/python[test]'
