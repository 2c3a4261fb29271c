#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the llama.cpp source that the llama-cpp-python sdist on PyPI bundles
# (MIT, like llama.cpp), once per machine, and caches the binary.
#
# Usage: scripts/build-llama-server.sh PYTHON VERSION CACHE_DIR
#   PYTHON     a python with pip (the project's venv)
#   VERSION    the llama-cpp-python sdist version whose bundled llama.cpp is built
#   CACHE_DIR  where the finished binary goes: CACHE_DIR/llama-server
# A binary already in CACHE_DIR is kept. Only the server target is compiled; the web UI is left out (its prebuilt
# copy would be downloaded), and so are HTTPS, tests, examples and the other tools.
set -euo pipefail
python="$1"
version="$2"
cache_dir="$3"
binary="$cache_dir/llama-server"
if [ -x "$binary" ]; then
    echo "llama-server already built: $binary"
    exit 0
fi
# CMake and Ninja from the system, else from PyPI into the given python's environment.
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
    "$python" -m pip install --quiet cmake ninja
    PATH="$(dirname "$python"):$PATH"
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
tar -xzf "$work"/llama_cpp_python-"$version".tar.gz -C "$work"
source_dir="$work/llama_cpp_python-$version/vendor/llama.cpp"
cmake -S "$source_dir" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_OPENSSL=OFF >"$work/configure.log"
cmake --build "$work/build" --target llama-server -j "$(nproc)"
mkdir -p "$cache_dir"
cp "$work/build/bin/llama-server" "$binary.partial"
cp "$source_dir/LICENSE" "$cache_dir/LICENSE"
mv "$binary.partial" "$binary"
echo "llama-server built: $binary"
