#!/usr/bin/env bash
# Installs everything Ward needs to build, run and test on Debian 12: Debian
# packages, and the npm packages the tests use as peers and vectors. Idempotent:
# on a machine that already has everything it only checks, in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libssl-dev nlohmann-json3-dev libcli11-dev libsqlite3-dev sqlite3 libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-16 libclang-rt-16-dev
  age expect time jq curl xxd openssl
  libarchive-dev bubblewrap nginx-light procps socat wrk
  chromium
)
command -v npm >/dev/null || apt_packages+=(nodejs npm)

missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Test-only npm peers, pinned; exported to plain files the C++ tests read.
if [[ ! -f .deps/cctv-age/x25519 || ! -f .deps/cctv-age-corpus/x25519 ]]; then
  echo "setup: fetching the age test vectors (npm cctv-age@0.2.0)"
  npm install --prefix .deps/npm --no-audit --no-fund --no-save --silent cctv-age@0.2.0
  rm -rf .deps/cctv-age .deps/cctv-age-corpus
  node scripts/export-cctv-age.js .deps/npm/node_modules .deps/cctv-age
fi

# Pinned npm packages used from node_modules: the JavaScript peer of
# bench/attest_vs_dcap_qvl.sh, and the browser driver of tests/e2e/ui.sh
# (with Debian's chromium). An npm install --no-save removes the packages it
# does not name, so all of them are installed in one command, after the
# cctv-age export, which no longer needs its package.
npm_pinned=("@phala/dcap-qvl@0.3.9" "puppeteer-core@24.43.1")
for spec in "${npm_pinned[@]}"; do
  name=${spec%@*} version=${spec##*@}
  if ! grep -qs "\"version\": \"$version\"" ".deps/npm/node_modules/$name/package.json"; then
    echo "setup: installing the pinned npm packages (${npm_pinned[*]})"
    npm install --prefix .deps/npm --no-audit --no-fund --no-save --silent "${npm_pinned[@]}"
    break
  fi
done

# The data set of `ward demo` (Breast Cancer Wisconsin, from python3-sklearn).
[[ -f .deps/data/breast_cancer.csv ]] || scripts/fetch-dataset.sh
