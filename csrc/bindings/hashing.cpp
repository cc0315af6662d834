// deepcore._C string hashing for Keras's Hashing layer: validation, then csrc/hashing.h.
//
//   hash_to_bins(strings, num_bins, salt=None) -> int64 array of strings' shape
//   fingerprint64(bytes) / siphash24(bytes, k0, k1) -> int (one string, for tests)
// strings: a NumPy array of dtype 'S' (fixed-width bytes; NUL padding is not part of a
// string), C-contiguous, any shape; num_bins >= 1; salt None (FarmHash Fingerprint64) or a
// pair (k0, k1) of integers in [0, 2**64) (SipHash-2-4 keyed by them). CPU only.
#include "hashing.h"

#include <string>

#include "bindings/checks.h"
#include "bindings/registry.h"

namespace dc {

namespace {

py::array hash_strings(const py::handle& obj, const py::handle& bins_obj,
                       const py::handle& salt_obj) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error("strings must be a numpy array of dtype 'S' (bytes), got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  const py::array a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().kind() != 'S')
    throw py::type_error("strings must have a bytes dtype ('S'), got " +
                         std::string(py::str(a.dtype())));
  check_c_contiguous(a, "strings");
  const int64_t num_bins = py_int64(bins_obj, "num_bins");
  if (num_bins < 1)
    throw py::value_error("num_bins must be at least 1, got " + std::to_string(num_bins));
  bool strong = false;
  uint64_t k0 = 0, k1 = 0;
  if (!salt_obj.is_none()) {
    if (!py::isinstance<py::sequence>(salt_obj) || py::len(salt_obj) != 2)
      throw py::value_error("salt must be None or a pair of integers (k0, k1)");
    const py::sequence salt = py::reinterpret_borrow<py::sequence>(salt_obj);
    k0 = py_uint64(salt[0], "salt[0]");
    k1 = py_uint64(salt[1], "salt[1]");
    strong = true;
  }
  const int64_t count = static_cast<int64_t>(a.size());
  const int64_t width = static_cast<int64_t>(a.itemsize());
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  py::array_t<int64_t> out(shape);
  const char* data = static_cast<const char*>(a.data());
  int64_t* op = out.mutable_data();
  {
    KernelScope nogil;
    hash_to_bins(data, count, width, num_bins, strong, k0, k1, op);
  }
  return out;
}

}  // namespace

DC_BINDINGS(hashing) {
  m.def("hash_to_bins", &hash_strings, py::arg("strings"), py::arg("num_bins"),
        py::arg("salt") = py::none(),
        "hash(s) % num_bins for each string of a bytes ('S') array: FarmHash Fingerprint64, "
        "or SipHash-2-4 keyed by salt = (k0, k1)");
  m.def(
      "fingerprint64",
      [](const py::bytes& b) {
        const std::string s = b;
        return fingerprint64(s.data(), s.size());
      },
      py::arg("data"), "FarmHash Fingerprint64 of bytes");
  m.def(
      "siphash24",
      [](const py::bytes& b, const py::handle& k0, const py::handle& k1) {
        const std::string s = b;
        return siphash24(py_uint64(k0, "k0"), py_uint64(k1, "k1"), s.data(), s.size());
      },
      py::arg("data"), py::arg("k0"), py::arg("k1"), "SipHash-2-4 of bytes with key (k0, k1)");
}

}  // namespace dc
