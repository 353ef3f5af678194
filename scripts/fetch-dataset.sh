#!/usr/bin/env bash
# Puts the Breast Cancer Wisconsin (Diagnostic) data set at
# .deps/data/breast_cancer.csv, taken from Debian's python3-sklearn package
# without installing it (apt-get download + dpkg-deb -x; no Python needed).
# The file keeps sklearn's format: a first line "569,30,malignant,benign", then
# 569 rows of 30 features and a target, 0 = malignant, 1 = benign.
# Idempotent: does nothing when the file is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

dest=.deps/data/breast_cancer.csv
if [[ -s $dest ]]; then
  echo "fetch-dataset: $dest already present"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# apt drops to the _apt user to download; let it write into the temp dir.
chmod 755 "$tmp"

download() {
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root python3-sklearn >/dev/null 2>&1)
}
if ! download; then
  apt-get update -qq >/dev/null
  download || { echo "fetch-dataset: apt-get download python3-sklearn failed" >&2; exit 1; }
fi

deb=$(find "$tmp" -maxdepth 1 -name 'python3-sklearn_*.deb' | head -n 1)
dpkg-deb -x "$deb" "$tmp/root"
src=$(find "$tmp/root" -path '*/sklearn/datasets/data/breast_cancer.csv' | head -n 1)
if [[ -z $src ]]; then
  echo "fetch-dataset: breast_cancer.csv not found in $(basename "$deb")" >&2
  exit 1
fi

mkdir -p "$(dirname "$dest")"
cp "$src" "$dest.tmp"
mv "$dest.tmp" "$dest"
echo "fetch-dataset: extracted $dest ($(wc -l <"$dest") lines) from $(basename "$deb")"
