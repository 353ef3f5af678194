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
  libarchive-dev bubblewrap nginx-light procps socat wrk chromium
  libsecp256k1-dev
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

# The age test vectors (npm cctv-age, pinned), exported to plain files the
# C++ tests read; the package itself is not kept.
if [[ ! -f .deps/cctv-age/x25519 || ! -f .deps/cctv-age-corpus/x25519 ]]; then
  echo "setup: fetching the age test vectors (npm cctv-age@0.2.0)"
  npm install --prefix .deps/npm-cctv --no-audit --no-fund --no-save --silent cctv-age@0.2.0
  rm -rf .deps/cctv-age .deps/cctv-age-corpus
  node scripts/export-cctv-age.js .deps/npm-cctv/node_modules .deps/cctv-age
  rm -rf .deps/npm-cctv
fi

# The npm packages the tests and benchmarks run as real peers, pinned in
# tests/npm/package.json: the DCAP verifier of bench/attest_vs_dcap_qvl.sh,
# the OpenAI client of tests/e2e/llm.sh, puppeteer-core, which drives
# Chromium in tests/e2e/ui.sh, and the EVM ledger's Solidity compiler (solc)
# and local chain (anvil, a prebuilt binary in @foundry-rs/anvil-linux-amd64).
# Installed again only when the pins change.
if ! cmp -s tests/npm/package.json .deps/npm/package.json || [[ ! -d .deps/npm/node_modules ]]; then
  echo "setup: installing the npm test peers (tests/npm/package.json)"
  mkdir -p .deps/npm
  cp tests/npm/package.json .deps/npm/package.json.new
  rm -f .deps/npm/package.json
  mv .deps/npm/package.json.new .deps/npm/package.json
  if ! npm install --prefix .deps/npm --no-audit --no-fund --silent --no-package-lock; then
    rm -f .deps/npm/package.json
    echo "setup: npm install failed" >&2
    exit 1
  fi
fi

# llama.cpp's llama-server and rpc-server for the LLM engine (engines/llm),
# built once per machine and source commit (about 15 minutes on 2 cores).
scripts/build-llama.sh >/dev/null

# The data set of `ward demo` (Breast Cancer Wisconsin, from python3-sklearn).
[[ -f .deps/data/breast_cancer.csv ]] || scripts/fetch-dataset.sh
