#!/usr/bin/env bash
# Packs the LLM engine image (engines/llm/README.md): ward-llm, its entrypoint,
# and llama-server and rpc-server (a split order's workers run it) from
# scripts/build-llama.sh, in a rootfs of its own, with
# the serve port label. Extra arguments become the image's Cmd: llama-server
# options that ward-llm passes on (e.g. --ctx-size 2048 --parallel 4).
# usage: pack-llm-engine.sh OUT.tar [LLAMA-SERVER OPTION...]
# WARD (default build/src/cli/ward) names the ward binary; ward-llm is next to it.
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 OUT.tar [LLAMA-SERVER OPTION...]" >&2; exit 2; }
out=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
ward=${WARD:-$root/build/src/cli/ward}
launcher=$(dirname "$ward")/ward-llm
[[ -x $ward && -x $launcher ]] || { echo "pack-llm-engine: no ward or ward-llm at $ward (build them)" >&2; exit 1; }
llama=$("$root/scripts/build-llama.sh")
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$launcher" "$dir/ward-llm"
cp "$llama/bin/llama-server" "$dir/llama-server"
cp "$llama/bin/rpc-server" "$dir/rpc-server"
cmd=()
for a in "$@"; do cmd+=(--cmd "$a"); done
"$ward" engine pack "$dir" --entrypoint /ward-llm "${cmd[@]}" --serve-port 8080 \
  --label org.opencontainers.image.title=ward-llm -o "$out"
