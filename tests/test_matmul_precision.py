"""deepcore.set_matmul_precision / get_matmul_precision ([Note: matmul precision] in csrc/gemm.h):
PyTorch's names, process-wide state in the extension, checked arguments. The state is CPU-side
and tested here; its effect (TF32 / BF16 tensor cores) is tested on a GPU in test_gpu_gemm.py.
On the CPU every setting computes in fp32."""

from __future__ import annotations

import deepcore as dc
import numpy as np
import pytest
from deepcore import _C


@pytest.fixture(autouse=True)
def _restore_precision():
    before = dc.get_matmul_precision()
    yield
    dc.set_matmul_precision(before)


def test_default_is_highest():
    assert dc.get_matmul_precision() == "highest"


@pytest.mark.parametrize("name", ["highest", "high", "medium"])
def test_each_setting_reads_back(name):
    dc.set_matmul_precision(name)
    assert dc.get_matmul_precision() == name
    assert _C.get_matmul_precision() == name


@pytest.mark.parametrize("bad", ["HIGH", "low", "", "tf32", "bf16", "highest "])
def test_unknown_names_are_value_errors(bad):
    dc.set_matmul_precision("high")
    with pytest.raises(ValueError, match="precision must be 'highest', 'high' or 'medium'"):
        dc.set_matmul_precision(bad)
    assert dc.get_matmul_precision() == "high"  # unchanged by the failed call


@pytest.mark.parametrize("bad", [None, 1, 0.5, b"high", ["high"]])
def test_non_strings_are_type_errors(bad):
    with pytest.raises(TypeError, match="precision must be a str"):
        dc.set_matmul_precision(bad)


@pytest.mark.parametrize("name", ["high", "medium"])
def test_cpu_products_stay_fp32(name):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((37, 129)).astype(np.float32)
    b = rng.standard_normal((129, 41)).astype(np.float32)
    exact = _C.sgemm(a, b)
    batched = _C.matmul(np.stack([a, a]), b)
    product = (dc.tensor(a) @ dc.tensor(b)).numpy()
    dc.set_matmul_precision(name)
    np.testing.assert_array_equal(_C.sgemm(a, b), exact)
    np.testing.assert_array_equal(_C.matmul(np.stack([a, a]), b), batched)
    np.testing.assert_array_equal((dc.tensor(a) @ dc.tensor(b)).numpy(), product)
