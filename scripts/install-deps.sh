#!/usr/bin/env bash
# Installs every Debian package that building, running and testing Sluice
# needs, and the tests' npm packages from tests/node/package-lock.json.
# Idempotent: when everything is present it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libjansson-dev libexpat1-dev libsqlite3-dev libssl-dev
  libcurl4-openssl-dev openssl
  libsnappy-dev libzstd-dev zlib1g-dev
  libcmocka-dev libzip-dev libseccomp-dev
  clang libclang-rt-14-dev
  python3 python3-boto3 python3-botocore python3-pytest awscli
  curl wrk
  e2fsprogs
  tzdata
  autoconf automake libtool g++
  user-mode-linux
  python3-pandas
)
# libsnappy-dev, libzstd-dev, zlib1g-dev: Parquet's SNAPPY, ZSTD and GZIP
# compression (src/formats/).
# python3-pandas: bench/formats compares its read_csv with the CSV to Parquet
# blueprint.
# libcurl4-openssl-dev: the client that posts to SNS's http and https endpoints;
# openssl: the command that makes the https tests' self-signed certificate.
# e2fsprogs: mke2fs and debugfs make the template of function environments' /tmp
# filesystems.
# tzdata: the time zone files (/usr/share/zoneinfo) that EventBridge Scheduler's
# ScheduleExpressionTimezone names (src/engine/tz.c reads them).
# user-mode-linux: a kernel that boots as a process, for the tests of
# environments under cgroup v2 (tests/integration/test_cgroup_v2.py) on
# machines whose controllers are on cgroup v1.
# Node.js and npm come from Debian unless the machine already has them.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
# aws-lambda-ric (tests/node) builds a native addon: curl and aws-lambda-cpp
# from its own sources (autoconf, automake, libtool, cmake, g++), then
# node-gyp against the local Node headers (NodeSource's nodejs ships them;
# Debian's are in libnode-dev).
[ -e /usr/include/node/node_api.h ] || PKGS+=(libnode-dev)

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

# The tests' npm packages, exactly as locked. A copy of the lockfile beside
# node_modules records what was installed.
node_dir=tests/node
if ! cmp -s "$node_dir/package-lock.json" "$node_dir/node_modules/.sluice-lock" 2>/dev/null; then
  echo "install-deps: installing npm packages in $node_dir" >&2
  # npm_config_nodedir: node-gyp builds against /usr/include/node instead of
  # downloading headers (nothing beyond the npm and Debian registries is reachable).
  (cd "$node_dir" && npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error)
  cp "$node_dir/package-lock.json" "$node_dir/node_modules/.sluice-lock"
fi
