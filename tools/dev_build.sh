#!/usr/bin/env bash
# Incremental developer build: compiles deepcore._C into ./build and drops it into
# python/deepcore/, so `PYTHONPATH=python python -m pytest` tests the working tree without
# installing. CUDA is off by default here (DEEPCORE_CUDA=AUTO ./tools/dev_build.sh to include it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${DEEPCORE_BUILD_DIR:-build}
py=${PYTHON:-python3}
if [ ! -f "$build/build.ninja" ] || [ -n "${RECONFIGURE:-}" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DPython_EXECUTABLE="$(command -v "$py")" \
    -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
    -DDEEPCORE_CUDA="${DEEPCORE_CUDA:-OFF}" >/dev/null
fi
cmake --build "$build" -j "${JOBS:-2}"
so=$(ls "$build"/_C*.so)
# copy then rename: a running process that has the old module loaded keeps its inode
cp "$so" "python/deepcore/.$(basename "$so").tmp"
mv "python/deepcore/.$(basename "$so").tmp" "python/deepcore/$(basename "$so")"
echo "built $(basename "$so")"
