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
