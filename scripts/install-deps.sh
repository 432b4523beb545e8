#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Sluice
# needs. Idempotent: when everything is present it does nothing.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libjansson-dev libexpat1-dev libsqlite3-dev libssl-dev
  libcmocka-dev
  clang libclang-rt-14-dev
  python3 python3-boto3 python3-botocore python3-pytest awscli
  curl wrk
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
