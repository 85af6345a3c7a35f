#!/usr/bin/env bash
# Debian packages the tests use: `age` (stored blobs must decrypt with the
# stock tool) and `ssh-keygen` (fingerprints must match OpenSSH's).
set -euo pipefail
need=()
command -v age >/dev/null 2>&1 || need+=(age)
command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing test dependencies: ${need[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
