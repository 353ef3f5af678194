#!/usr/bin/env bash
# Builds llama.cpp's llama-server (and rpc-server, for split inference) from
# source, statically linked, for engines/llm. The source is the llama.cpp
# release that the npm package node-llama-cpp@3.21.1 ships as a git bundle
# (llama/gitRelease.bundle, llama.cpp tag v0.4.0), pinned here by the
# package's SHA-256 and the bundle's commit. Works offline once npm has the
# package.
#
# The build is cached by source commit and flags in .deps/llama/<commit>-<flags>/
# (a second call prints the path at once), and ccache keeps the objects, so
# the tests and CI pay for it once per machine. It prints the directory that
# holds bin/llama-server and bin/rpc-server.
#
# CPU build, -march=native (GGML_NATIVE): the binaries run on the machine
# that built them. WARD_LLAMA_CUDA=1 builds with CUDA as well (needs nvcc).
set -euo pipefail
cd "$(dirname "$0")/.."

version=3.21.1
tgz_sha256=7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f
commit=80fb11ac73e66d89eae2c6a91d8a77428fa733ed
jobs=$(nproc)

flags=(-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF
  -DBUILD_SHARED_LIBS=OFF -DGGML_RPC=ON -DGGML_OPENMP=OFF -DCMAKE_BUILD_TYPE=Release
  "-DCMAKE_EXE_LINKER_FLAGS=-static -static-libgcc -static-libstdc++")
variant=cpu
if [[ ${WARD_LLAMA_CUDA:-0} == 1 ]]; then
  flags+=(-DGGML_CUDA=ON "-DCMAKE_EXE_LINKER_FLAGS=-static-libgcc -static-libstdc++")
  variant=cuda
fi
out=.deps/llama/${commit:0:12}-$variant
mkdir -p .deps/llama
# One build at a time: a second caller waits, then finds the first's result.
exec 9>.deps/llama/lock
flock 9
if [[ -x $out/bin/llama-server && -x $out/bin/rpc-server ]]; then
  echo "$PWD/$out"
  exit 0
fi

src=.deps/llama/src
if [[ ! -d $src/.git ]] || [[ $(git -C "$src" rev-parse HEAD 2>/dev/null) != "$commit" ]]; then
  echo "build-llama: fetching llama.cpp (npm node-llama-cpp@$version)" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "node-llama-cpp@$version" >/dev/null)
  got=$(sha256sum "$tmp/node-llama-cpp-$version.tgz" | cut -d' ' -f1)
  [[ $got == "$tgz_sha256" ]] || { echo "build-llama: node-llama-cpp-$version.tgz is $got, not $tgz_sha256" >&2; exit 1; }
  tar -xzf "$tmp/node-llama-cpp-$version.tgz" -C "$tmp" package/llama/gitRelease.bundle
  rm -rf "$src"
  mkdir -p .deps/llama
  git clone -q "$tmp/package/llama/gitRelease.bundle" "$src"
  git -C "$src" -c advice.detachedHead=false checkout -q "$commit"
fi

echo "build-llama: building llama-server and rpc-server ($variant, $jobs jobs; 15 to 20 minutes on 2 cores)" >&2
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S "$src" -B "$out.build" -G Ninja "${flags[@]}" \
  -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >"$out.cmake.log" 2>&1 ||
  { tail -30 "$out.cmake.log" >&2; exit 1; }
cmake --build "$out.build" -j "$jobs" --target llama-server ggml-rpc-server >"$out.build.log" 2>&1 ||
  { tail -40 "$out.build.log" >&2; exit 1; }
mkdir -p "$out.tmp/bin"
cp "$out.build/bin/llama-server" "$out.tmp/bin/"
cp "$out.build/bin/ggml-rpc-server" "$out.tmp/bin/rpc-server"
strip "$out.tmp/bin/"*
rm -rf "$out"
mv "$out.tmp" "$out"
rm -rf "$out.build"
echo "$PWD/$out"
