"""Channels-last models with NCHW kernels: convert the layout once per run of layers.

[Note: channels-last] Keras image layers default to ``data_format="channels_last"`` (NHWC),
but deepcore's convolution and pooling kernels work in NCHW (PyTorch's layout). Tensors carry
no layout tag; instead every channels-last image layer can run in one of two modes:

* standalone (the default): it takes NHWC, transposes to NCHW, runs the kernel and transposes
  the result back, so ``Conv2D(32, 3)(x_nhwc)`` just works;
* planned: ``plan_channels_last(layers)``, called by a container that knows the order of its
  layers (``Sequential`` after building), marks maximal runs of layout-aware layers so that
  the data stays NCHW *inside* the run: only the first layer of a run converts NHWC -> NCHW and
  only the last converts back. A channels-last convnet thus transposes once at its input and
  once at its ``Flatten`` (which flattens in NHWC order, as Keras, so Dense weights match a
  Keras model), not twice per layer.

Roles (``layout_role(layer)``):

* "spatial" — channels-last conv / pooling / keepdims global pooling. Planned flags
  ``_nchw_in`` (the input arrives NCHW) and ``_nchw_out`` (leave the output NCHW).
* "follower" — layers that can work in either layout (BatchNormalization over the channel
  axis, ZeroPadding2D, Dropout with a noise_shape): inside a run they get ``_nchw_in =
  _nchw_out = True`` and work on NCHW data.
* "elementwise" — activations, Dropout, ...: layout does not matter, they pass through.
* "sink" — Flatten and global pooling: take NCHW when ``_nchw_in``, output no spatial axes.
* None — everything else ends a run (the run's last layer converts back to NHWC).

Shapes (``compute_output_shape``, ``input_spec`` checks, ``build``) always use the layer's
declared data_format; only the arrays passed between planned layers differ. A planned layer
should only be called by the container that planned it; ``reset_layout`` undoes a plan. A
layer may belong to two containers (a feature extractor built from a Sequential's layers, a
base model's layers in a new model): each plan stamps its layers with the planning
container's id (``new_plan_id``, ``owner=``), and a container whose layers carry another
stamp re-plans before it runs (``layout_stale``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from ...tensor import Tensor
from ..module import Module

__all__ = [
    "plan_channels_last",
    "new_plan_id",
    "layout_stale",
    "reset_layout",
    "layout_role",
    "to_channels_first",
    "to_channels_last",
]


def to_channels_first(x: Tensor) -> Tensor:
    """(N, *spatial, C) -> (N, C, *spatial)."""
    nd = x.ndim
    return x.permute(0, nd - 1, *range(1, nd - 1))


def to_channels_last(x: Tensor) -> Tensor:
    """(N, C, *spatial) -> (N, *spatial, C)."""
    nd = x.ndim
    return x.permute(0, *range(2, nd), 1)


class LayoutMixin:
    """Standalone/planned layout handling for channels-last image layers (see the Note)."""

    _nchw_in = False
    _nchw_out = False
    _layout_owner = 0  # the id of the plan that set the flags (0: none)

    def _is_channels_last(self) -> bool:
        return getattr(self, "data_format", "channels_first") == "channels_last"

    def _layout_role(self) -> str | None:
        return "spatial" if self._is_channels_last() else None

    def _to_internal(self, x: Tensor) -> Tensor:
        """The input as NCHW (a no-op when it already arrives NCHW)."""
        if self._is_channels_last() and not self._nchw_in:
            return to_channels_first(x)
        return x

    def _from_internal(self, y: Tensor) -> Tensor:
        """An NCHW result in the layout the next layer expects."""
        if self._is_channels_last() and not self._nchw_out:
            return to_channels_last(y)
        return y

    def _notional_shape(self, shape: tuple) -> tuple:
        if self._nchw_in and self._is_channels_last() and len(shape) >= 3:
            return (shape[0],) + tuple(shape[2:]) + (shape[1],)
        return shape


def layout_role(layer: Module) -> str | None:
    role = getattr(layer, "_layout_role", None)
    if role is not None:
        return role()
    if getattr(layer, "_layout_elementwise", False):
        return "elementwise"
    return None


def reset_layout(layers: Sequence[Module]) -> None:
    """Return every layer to standalone mode."""
    for layer in layers:
        if isinstance(layer, LayoutMixin):
            layer._nchw_in = False
            layer._nchw_out = False


_plan_ids = itertools.count(1)


def new_plan_id() -> int:
    """A fresh id for a container's plans (see the Note)."""
    return next(_plan_ids)


def layout_stale(owner: int, layers: Iterable[Module]) -> bool:
    """Did another container re-plan any of ``layers`` since ``owner`` planned them?"""
    return any(layer._layout_owner != owner for layer in layers if isinstance(layer, LayoutMixin))


def plan_channels_last(
    layers: Sequence[Module], owner: int = 0, claim: Iterable[Module] = ()
) -> int:
    """Plan a chain of (built) layers; returns how many layout conversions were removed.
    ``owner`` stamps the chain and the ``claim``ed layers (see the Note)."""
    reset_layout(layers)
    for layer in (*layers, *claim):
        if isinstance(layer, LayoutMixin):
            layer._layout_owner = owner
    saved = 0
    producer: Module | None = None  # the spatial layer whose output is NCHW right now
    followers: list[Module] = []

    def close() -> None:
        nonlocal producer, followers
        if producer is not None:
            producer._nchw_out = False
            for f in followers:
                f._nchw_in = f._nchw_out = False
        producer, followers = None, []

    for layer in layers:
        role = layout_role(layer)
        if role == "elementwise":
            continue
        if role == "spatial":
            if producer is not None:
                layer._nchw_in = True
                saved += 2  # the producer's NCHW->NHWC and this layer's NHWC->NCHW
            layer._nchw_out = True
            producer, followers = layer, []
        elif role == "follower":
            if producer is not None:
                layer._nchw_in = layer._nchw_out = True
                followers.append(layer)
        elif role == "sink":
            if producer is not None:
                layer._nchw_in = True
                saved += 1  # the producer's NCHW->NHWC; a Flatten still permutes once
            producer, followers = None, []
        else:
            close()
    close()
    return saved
