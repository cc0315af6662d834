"""A cap on the weights a model built from an untrusted file may create ([Note: weight budget])."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["weight_budget"]


class _WeightBudget(threading.local):
    """[Note: weight budget] ``load_model`` builds a model from a file's configuration, which
    may be corrupt or hostile: ``Dense(units=2**31)`` would allocate hundreds of GiB before any
    comparison with the stored tensors. Within ``weight_budget(n, source)`` every ``add_weight``
    (in this thread) first checks that the weights created so far plus the new one hold at
    most ``n`` values, the number the file stores, and raises ``ValueError`` naming the file
    and the weight otherwise; so building allocates no more than the file holds."""

    left: int | None = None
    total: int = 0
    source: str = ""

    def spend(self, layer: Any, name: str, shape: tuple[int, ...]) -> None:
        if self.left is None:
            return
        n = 1
        for d in shape:
            n *= d
        if n > self.left:
            raise ValueError(
                f"{self.source}: the configuration of layer '{layer.name}' "
                f"({type(layer).__name__}) asks for a weight {name!r} of shape {shape}, but the "
                f"file stores {self.total} weight values in all and {self.left} are left: the "
                "configuration does not match the stored weights"
            )
        self.left -= n


_weight_budget = _WeightBudget()


@contextlib.contextmanager
def weight_budget(values: int, source: str) -> Iterator[None]:
    """Limit the weights created in this thread to ``values`` scalars in all (see
    [Note: weight budget]); errors name ``source`` (a file)."""
    b = _weight_budget
    saved = (b.left, b.total, b.source)
    b.left, b.total, b.source = int(values), int(values), source
    try:
        yield
    finally:
        b.left, b.total, b.source = saved
