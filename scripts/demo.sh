#!/usr/bin/env bash
# Ward's main job: installs what Ward needs, builds it, and runs `ward demo`,
# the three-party confidential order of docs/design.md on this machine: Alice
# and Bob each hold half of the Breast Cancer Wisconsin data set, Carol a
# training engine; a CVM of Ward's simulated TEE (NOT SECURE) trains on both
# halves, only Carol can read the model, and anyone can verify the report.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target ward ward-loader cancer-trainer -j "$(nproc)" >/dev/null
exec build/src/cli/ward demo --data .deps/data/breast_cancer.csv "$@"
