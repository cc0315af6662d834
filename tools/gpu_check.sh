#!/usr/bin/env bash
# tools/gpu_check.sh: the one prepared GPU run of issue 16 (the CUDA backend).
#
#   tools/gpu_check.sh                         # logs in a new temporary folder
#   GPU_CHECK_LOGS=/some/dir tools/gpu_check.sh
# Also: GPU_CHECK_ARCHS (default 90), GPU_CHECK_BUILD_DIR (default build/gpu-check: kept, so a
# second run rebuilds only what changed), GPU_CHECK_BUILD_TIMEOUT (default 420 s), JOBS
# (default: all cores), PYTHON (default python3).
#
# Steps, in order; the first build error stops the run with the compiler's message:
#   1. build   deepcore offline into a wheel (pip wheel --no-build-isolation --no-index: no
#              registry needed; scikit-build-core, pybind11, CMake, ninja and nvcc must be
#              installed), CUDA kernels ON for GPU_CHECK_ARCHS (default 90: sm_90 only), all
#              cores; then unpacked (pip install --target, no dependencies) into the log
#              folder and put first on PYTHONPATH: the interpreter's own packages (NumPy, CuPy,
#              PyTorch, pytest) are used as they are and nothing outside the log folder changes
#   2. cpu     the CUDA-related tests that need no GPU (device dispatch, error paths, the gpu
#              marker's clean skips) against that build
#   3. gpu     pytest -m gpu (every test that needs a GPU)
#   4. memcheck  the GPU tests once more under compute-sanitizer --tool memcheck
#   5. bench   every bench/gpu_*.py (ours vs cuBLAS / PyTorch in the same run)
# then a summary (each step's status, time and log). On a machine without a GPU (or without
# CuPy), steps 3-5 are reported SKIPPED: the run then proves only the CPU side.
# Exit status: 0 every step passed on a GPU; 1 a step failed; 3 the CPU-side steps passed and
# the GPU steps were skipped (nothing verified on a GPU).
# Tests run from a copy of tests/ and bench/ outside the source tree, so `import deepcore` is
# the built wheel, never the source folder python/.
# Budget: under 8 minutes on an H200 machine (16 cores): each step has a time limit
# (GPU_CHECK_STEP_TIMEOUT, default 240 s), and a GPU step that would start after
# GPU_CHECK_BUDGET seconds (default 400) is skipped and reported as such.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
py=${PYTHON:-python3}
logs=${GPU_CHECK_LOGS:-$(mktemp -d -t deepcore-gpu-check.XXXXXX)}
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)
archs=${GPU_CHECK_ARCHS:-90}
jobs=${JOBS:-$(nproc)}
step_timeout=${GPU_CHECK_STEP_TIMEOUT:-240}
budget=${GPU_CHECK_BUDGET:-400}
build_timeout=${GPU_CHECK_BUILD_TIMEOUT:-420}
t_start=$(date +%s)

summary=()
record() {  # name status seconds log
  summary+=("$(printf '%-9s %-8s %5ss  %s' "$1" "$2" "$3" "$4")")
}
print_summary() {
  echo
  echo "==== gpu_check summary ($(($(date +%s) - t_start)) s total; logs in $logs)"
  printf '%s\n' "${summary[@]}"
  if [ -f "$logs/bench.log" ]; then
    echo "---- bench figures"
    grep -E "TFLOP/s|GB/s|RESULT|ratio|validation failed|Error" "$logs/bench.log" || true
  fi
}
finish() {  # exit status
  print_summary
  echo "==== gpu_check exit status $1"
  exit "$1"
}

# run_step name log command...: runs with the step time limit, output to the log
run_step() {
  local name=$1 log=$2
  shift 2
  local t0 rc
  t0=$(date +%s)
  echo "---- $name: $*" | tee -a "$log"
  timeout --signal=TERM --kill-after=10 "$step_timeout" "$@" >>"$log" 2>&1
  rc=$?
  local dt=$(($(date +%s) - t0))
  if [ $rc -eq 0 ]; then
    record "$name" PASS "$dt" "$log"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    record "$name" TIMEOUT "$dt" "$log"
  else
    record "$name" "FAIL($rc)" "$dt" "$log"
  fi
  tail -n 3 "$log"
  return $rc
}

echo "gpu_check: archs sm_$archs, $jobs jobs, logs in $logs"

# ---- 1. build (offline), stop at the first error
export CMAKE_BUILD_PARALLEL_LEVEL=$jobs
export DEEPCORE_CUDA=ON
wheeldir=$logs/wheel
rm -rf "$wheeldir"
mkdir -p "$wheeldir"
t0=$(date +%s)
echo "---- build: pip wheel (offline), CUDA archs $archs"
timeout "$build_timeout" "$py" -m pip wheel -v --no-build-isolation --no-index --no-deps \
  -w "$wheeldir" -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$archs" -Ccmake.define.DEEPCORE_CUDA=ON \
  -Cbuild-dir="${GPU_CHECK_BUILD_DIR:-$root/build/gpu-check}" -Cbuild.verbose=true . \
  >"$logs/build.log" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  record build "FAIL($rc)" "$(($(date +%s) - t0))" "$logs/build.log"
  if [ $rc -eq 124 ]; then
    echo "gpu_check: the build ran past GPU_CHECK_BUILD_TIMEOUT (${build_timeout}s); its end:"
    tail -n 20 "$logs/build.log"
  else
    echo "gpu_check: the build failed; the first error:"
    grep -n -m1 -B2 -A25 -E "error:|Error |FAILED:" "$logs/build.log" || tail -n 40 "$logs/build.log"
  fi
  finish 1
fi
record build PASS "$(($(date +%s) - t0))" "$logs/build.log"
site=$logs/site
rm -rf "$site"
"$py" -m pip install -q --no-index --no-deps --target "$site" "$wheeldir"/deepcore-*.whl \
  >>"$logs/build.log" 2>&1 || {
  record install FAIL 0 "$logs/build.log"
  tail -n 20 "$logs/build.log"
  finish 1
}
export PYTHONPATH=$site${PYTHONPATH:+:$PYTHONPATH}
vpy=$py
work=$logs/run
rm -rf "$work"
mkdir -p "$work"
cp -r "$root/tests" "$root/bench" "$root/pyproject.toml" "$work/"
cd "$work" || finish 1
"$vpy" -c "import deepcore as d; i = d.kernels.info(); print(d.__file__, {k: i[k] for k in i if 'cuda' in k})" |
  tee -a "$logs/build.log"

# ---- 2. CPU-side tests of the CUDA backend
cpu_tests=(tests/test_device_dispatch.py tests/test_fuzz_device.py tests/test_cuda_tensor.py
  tests/test_matmul_precision.py tests/test_module_device.py tests/test_build.py)
run_step cpu "$logs/cpu.log" "$vpy" -m pytest -q -p no:cacheprovider -m "not gpu" "${cpu_tests[@]}" ||
  finish 1

# ---- GPU present?
if ! reason=$("$vpy" -c "from deepcore._array import require_cuda; require_cuda()" 2>&1); then
  echo "gpu_check: no GPU steps here: $(echo "$reason" | tail -n 1)"
  for s in gpu memcheck bench; do record "$s" SKIPPED 0 "(no GPU: nothing verified on a GPU)"; done
  finish 3
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$logs/gpu.txt" 2>&1 || true
cat "$logs/gpu.txt"

failed=0
in_budget() {  # name: true while the run is inside its time budget, else records a skip
  if [ $(($(date +%s) - t_start)) -gt "$budget" ]; then
    record "$1" SKIPPED 0 "(past the ${budget}s budget)"
    failed=1
    return 1
  fi
}
# ---- 3. every GPU test
# The project's pytest settings turn warnings into errors; warnings raised inside CuPy or
# PyTorch are shown instead, so that a GPU run is not lost to a library's deprecation notice.
lib_warnings=(-W "default:::cupy.*" -W "default:::cupyx.*" -W "default:::torch.*")
if in_budget gpu; then
  run_step gpu "$logs/gpu.log" "$vpy" -m pytest -v -p no:cacheprovider "${lib_warnings[@]}" \
    -m gpu tests/ || failed=1
fi

# ---- 4. the GPU tests under compute-sanitizer memcheck
if ! in_budget memcheck; then
  :
elif command -v compute-sanitizer >/dev/null 2>&1; then
  # every GPU test file but the model-level ones, without the largest cases (memcheck runs each
  # kernel 10-100x slower): every kernel and edge path still runs under it
  memcheck_skip="not 1100 and not 300-257 and not many_small and not split_reduction"
  memcheck_files=()
  for f in tests/test_gpu_*.py tests/test_cuda_tensor.py; do
    [ "$f" = tests/test_gpu_model.py ] || memcheck_files+=("$f")
  done
  run_step memcheck "$logs/memcheck.log" compute-sanitizer --tool memcheck --error-exitcode 99 \
    --target-processes all "$vpy" -m pytest -q -p no:cacheprovider "${lib_warnings[@]}" -m gpu -x \
    -k "$memcheck_skip" "${memcheck_files[@]}" || failed=1
else
  record memcheck SKIPPED 0 "(compute-sanitizer not found)"
fi

# ---- 5. the GPU benchmarks
: >"$logs/bench.log"
# MNIST for gpu_train_convnet.py (random images of its shape where it is not at hand)
if [ -z "${DEEPCORE_DATA:-}" ] && [ -d "$root/../shared/data/mnist" ]; then
  export DEEPCORE_DATA="$root/../shared/data/mnist"
fi
for b in bench/gpu_*.py; do
  [ -e "$b" ] || continue
  in_budget "$(basename "$b" .py)" || continue
  run_step "$(basename "$b" .py)" "$logs/bench.log" "$vpy" "$b" || failed=1
done

finish $failed
