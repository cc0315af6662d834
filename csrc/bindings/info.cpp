// deepcore._C: build information, CPU capability control, CUDA device queries.
#include <omp.h>

#include "bindings/checks.h"
#include "bindings/registry.h"
#include "core/dispatch.h"
#include "core/memory.h"
#include "core/threads.h"
#include "cuda/cuda_api.h"

namespace dc {

#ifdef DEEPCORE_WITH_CUDA
constexpr bool kCudaBuilt = true;
#else
constexpr bool kCudaBuilt = false;
#endif

static void require_cuda() {
  if (!kCudaBuilt)
    throw std::runtime_error(
        "deepcore was built without CUDA (rebuild with a CUDA compiler and DEEPCORE_CUDA=ON)");
#ifdef DEEPCORE_WITH_CUDA
  if (cuda::device_count() == 0)
    throw std::runtime_error("deepcore was built with CUDA but no CUDA GPU is present");
#endif
}

DC_BINDINGS(info) {
  m.def(
      "info",
      []() {
        py::dict d;
        d["compiler"] = DC_COMPILER;
        d["cxx_flags"] = DC_CXX_FLAGS;
        d["cxx_standard"] = 17;
        d["openmp"] = _OPENMP;
        d["num_threads"] = num_threads();
        d["cpu_capability"] = cpu_capability_name(cpu_capability());
        d["cpu_capability_supported"] = cpu_capability_name(cpu_capability_supported());
        d["malloc_mmap_threshold"] = malloc_mmap_threshold();  // [Note: malloc tuning]
        d["cuda_built"] = kCudaBuilt;
#ifdef DEEPCORE_WITH_CUDA
        d["cuda_archs"] = DC_CUDA_ARCHS;
        d["cuda_runtime"] = cuda::runtime_version();
        int n = cuda::device_count();
        d["cuda_available"] = n > 0;
        d["cuda_device_count"] = n;
        py::list names;
        for (int i = 0; i < n; ++i) names.append(cuda::device_name(i));
        d["cuda_devices"] = names;
#else
        d["cuda_available"] = false;
        d["cuda_device_count"] = 0;
#endif
        return d;
      },
      "Build and runtime information: compiler, flags, OpenMP threads, CPU capability, CUDA.");

  m.def(
      "get_cpu_capability", []() { return std::string(cpu_capability_name(cpu_capability())); },
      "The CPU capability kernels dispatch to now: 'generic', 'avx2' or 'avx512'.");
  m.def(
      "set_cpu_capability",
      [](const std::string& name) { set_cpu_capability(parse_cpu_capability(name)); },
      py::arg("name"),
      "Force the CPU kernels of a capability ('generic', 'avx2', 'avx512'); for tests and "
      "benchmarks. Raises ValueError if this CPU lacks it.");
  m.def(
      "get_num_threads", []() { return num_threads(); },
      "The number of OpenMP threads kernels use (set_num_threads, else the OpenMP default).");
  m.def(
      "omp_max_threads", []() { return omp_get_max_threads(); },
      "OpenMP's thread count for the calling thread right now (what its next parallel region "
      "would use): a diagnostic; the kernels' count is get_num_threads().");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) throw py::value_error("num_threads must be >= 1, got " + std::to_string(n));
        set_num_threads(n);
      },
      py::arg("n"),
      "Set the number of OpenMP threads every kernel uses, process-wide (as "
      "torch.set_num_threads): kernels called from any Python thread, including threads "
      "started later, use it; a kernel already running keeps its count until it returns. See "
      "[Note: process-wide thread count] in csrc/core/threads.h.");

  m.def("cuda_device_count", []() {
#ifdef DEEPCORE_WITH_CUDA
    return cuda::device_count();
#else
    return 0;
#endif
  });
  m.def(
      "cuda_saxpy",
      [](int64_t n, float a, uintptr_t x, uintptr_t y, uintptr_t stream) {
        require_cuda();
#ifdef DEEPCORE_WITH_CUDA
        if (n < 0) throw py::value_error("n must be >= 0");
        if (n > 0 && (x == 0 || y == 0)) throw py::value_error("x and y must be device pointers");
        py::gil_scoped_release nogil;
        cuda::saxpy(n, a, x, y, stream);
#endif
      },
      py::arg("n"), py::arg("a"), py::arg("x"), py::arg("y"), py::arg("stream") = 0,
      "y += a*x on the GPU, on raw device pointers (e.g. CuPy's .data.ptr).");
  m.def(
      "cuda_saxpy_numpy",
      [](float a, const py::handle& x_obj, const py::handle& y_obj) {
        // Host round trip through the GPU: proves the toolchain and the launch path.
        require_cuda();
        auto x = as_array<float>(x_obj, "x");
        auto y = as_array<float>(y_obj, "y");
        check_c_contiguous(x, "x");
        check_c_contiguous(y, "y");
        check_writeable(y, "y");
        if (x.size() != y.size()) throw py::value_error("x and y must have the same size");
#ifdef DEEPCORE_WITH_CUDA
        const int64_t n = x.size(), bytes = n * 4;
        const float* xp = x.data();
        float* yp = y.mutable_data();
        py::gil_scoped_release nogil;
        uintptr_t dx = cuda::malloc_device(bytes ? bytes : 4),
                  dy = cuda::malloc_device(bytes ? bytes : 4);
        try {
          cuda::copy_to_device(dx, xp, bytes);
          cuda::copy_to_device(dy, yp, bytes);
          cuda::saxpy(n, a, dx, dy, 0);
          cuda::copy_to_host(yp, dy, bytes);
        } catch (...) {
          cuda::free_device(dx);
          cuda::free_device(dy);
          throw;
        }
        cuda::free_device(dx);
        cuda::free_device(dy);
#endif
      },
      py::arg("a"), py::arg("x"), py::arg("y"));
}

}  // namespace dc
