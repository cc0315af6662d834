"""The package's structure: every module reachable by its dotted name."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import deepcore
import numpy as np


def _modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(deepcore.__path__, "deepcore.")]


def test_import_deepcore_tensor_gives_the_module():
    import deepcore.tensor as t

    assert t is sys.modules["deepcore.tensor"]
    assert t.Tensor is deepcore.Tensor
    x = deepcore.tensor([1.0, 2.0])  # and deepcore.tensor(...) still makes a tensor
    assert isinstance(x, deepcore.Tensor) and x.dtype == np.float32


def test_no_attribute_shadows_a_submodule():
    """``import deepcore.a.b as m`` binds the attribute ``b`` of ``deepcore.a``: a function or
    class of that name would shadow the module (as ``tensor()`` once did)."""
    shadowed = []
    for name in _modules():
        mod = importlib.import_module(name)
        parent, _, last = name.rpartition(".")
        if getattr(sys.modules[parent], last, None) is not mod:
            shadowed.append(name)
    assert not shadowed


# ---------------------------------------------------------------------- array module
# numpy names that concern metadata, not storage: fine to call directly ([Note: array module])
_NUMPY_METADATA = {
    "ndarray", "dtype", "result_type", "broadcast_shapes", "integer", "generic", "floating",
    "float32", "float64", "int64", "intp", "bool_", "errstate", "nan", "cumsum", "asarray", "shape",
}  # fmt: skip


def test_ops_and_autograd_reach_storage_through_the_array_module():
    """Functions run unchanged on NumPy and CuPy storage only if they take library functions
    from array_module(x): no numpy function on storage in deepcore/ops or autograd.py."""
    import ast
    from pathlib import Path

    root = Path(deepcore.__file__).parent
    # creation makes CPU tensors (NumPy) until the CUDA backend adds a device argument
    ops = [f for f in sorted((root / "ops").glob("*.py")) if f.name != "_creation.py"]
    files = [*ops, root / "autograd.py", root / "_tensor_methods.py"]
    found = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "np"
                and node.attr not in _NUMPY_METADATA
            ):
                found.append(f"{f.name}:{node.lineno} np.{node.attr}")
    assert not found


def test_array_module_and_device():
    from deepcore._array import array_module, device_of

    x = np.zeros(3, np.float32)
    assert array_module(x) is np and device_of(x) == "cpu"
    assert deepcore.tensor(x).device == "cpu"
