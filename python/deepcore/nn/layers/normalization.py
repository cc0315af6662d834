"""BatchNormalization, LayerNormalization, GroupNormalization and UnitNormalization with
Keras's arguments and defaults.

BatchNormalization: ``momentum`` is Keras's (moving = momentum·moving + (1-momentum)·batch,
default 0.99; PyTorch's momentum is 1 minus this), ``epsilon`` 1e-3; the moving variance
follows the biased batch variance, as Keras's (F.batch_norm's unbiased_running_var=False).
The moving mean and variance are non-trainable weights (saved in the state_dict, never given
to an optimizer). In training mode the batch statistics normalise and update the moving ones;
in inference mode — and always when the layer is frozen (``trainable = False``, as Keras) —
the moving ones are used. With a Keras mask (e.g. after ``Embedding(mask_zero=True)``) the
training statistics are taken over the unmasked positions only, as Keras 3's; the mask passes on.
A training batch with one value per channel (the last batch of ``fit`` holding one sample)
normalises as Keras's does: mean = the value, variance 0, so the output is β and the moving
variance moves towards 0 (PyTorch's BatchNorm raises there instead; ``F.batch_norm`` keeps
PyTorch's rule, the layer follows Keras).
In a data-parallel ``fit`` (deepcore.distributed) the training statistics are the GLOBAL
batch's: the per-channel counts, sums and sums of squared deviations are all-reduced over the
ranks in the forward pass, and so are their gradients in the backward pass (SyncBatchNorm), so
every replica normalises, and updates its moving statistics, exactly as one process would on
the combined batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import ops
from ..._array import array_module
from ..._checks import is_int, positive_int
from ...autograd import no_grad
from ...distributed import _distribution as _dist
from ...distributed import _reduce as _dist_reduce
from ...distributed import _world as _dist_world
from ...tensor import Tensor
from .. import functional as F
from .. import initializers, regularizers
from ..module import InputSpec, Module
from .layout import LayoutMixin

__all__ = [
    "BatchNormalization",
    "GroupNormalization",
    "LayerNormalization",
    "UnitNormalization",
]


def _set_affine_args(
    layer: Module, center: Any, scale: Any, beta_init: Any, gamma_init: Any, beta_reg: Any,
    gamma_reg: Any,
) -> None:  # fmt: skip
    """The γ/β arguments the normalization layers share (Keras's names and defaults)."""
    layer.center, layer.scale = bool(center), bool(scale)
    layer.beta_initializer = initializers.get(beta_init)
    layer.gamma_initializer = initializers.get(gamma_init)
    layer.beta_regularizer = regularizers.get(beta_reg)
    layer.gamma_regularizer = regularizers.get(gamma_reg)


def _affine_weights(layer: Module, shape: tuple) -> None:
    """Create ``layer.gamma`` / ``layer.beta`` of ``shape`` (None where scale / center is
    off)."""
    layer.gamma = (
        layer.add_weight(
            "gamma", shape, layer.gamma_initializer, regularizer=layer.gamma_regularizer
        )
        if layer.scale
        else None
    )
    layer.beta = (
        layer.add_weight("beta", shape, layer.beta_initializer, regularizer=layer.beta_regularizer)
        if layer.center
        else None
    )


def _affine_config(layer: Module) -> dict:
    return {
        "center": layer.center,
        "scale": layer.scale,
        "beta_initializer": initializers.serialize(layer.beta_initializer),
        "gamma_initializer": initializers.serialize(layer.gamma_initializer),
        "beta_regularizer": regularizers.serialize(layer.beta_regularizer),
        "gamma_regularizer": regularizers.serialize(layer.gamma_regularizer),
    }


class BatchNormalization(LayoutMixin, Module):
    """Normalise each feature along ``axis`` over the batch (and spatial) axes."""

    supports_masking = True

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise TypeError(f"BatchNormalization: axis must be an int, got {axis!r}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization: momentum must be in [0, 1], got {momentum}")
        if not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be > 0, got {epsilon}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        _set_affine_args(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer,
        )  # fmt: skip
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self._rank: int | None = None

    def _axis(self, rank: int) -> int:
        ax = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= ax < rank:
            raise ValueError(
                f"BatchNormalization '{self.name}': axis {self.axis} is invalid for inputs of "
                f"rank {rank} (it must not be the batch axis)"
            )
        return ax

    def _is_channels_last(self) -> bool:
        # over the last axis of image-like data: that is channels-last (see layers/layout.py)
        return (
            self._rank is not None and self._rank >= 3 and self._axis(self._rank) == self._rank - 1
        )

    def _layout_role(self) -> str | None:
        return "follower" if self._is_channels_last() else None

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        if rank < 2:
            raise ValueError(
                f"BatchNormalization '{self.name}' needs inputs of rank >= 2, got {input_shape}"
            )
        ax = self._axis(rank)
        c = input_shape[ax]
        if c is None:
            raise ValueError(f"BatchNormalization '{self.name}': axis {self.axis} size unknown")
        self._rank = rank
        c = int(c)
        _affine_weights(self, (c,))
        self.moving_mean = self.add_weight(
            "moving_mean", (c,), self.moving_mean_initializer, trainable=False
        )
        self.moving_variance = self.add_weight(
            "moving_variance", (c,), self.moving_variance_initializer, trainable=False
        )
        self.input_spec = InputSpec(ndim=rank, axes={ax: c})

    def call(self, x: Tensor, training: bool | None = None, mask: Any = None) -> Tensor:
        training = bool(training) and self.trainable
        axis = 1 if self._nchw_in else self._axis(x.ndim)  # the kernel takes any channel axis
        if training and _dist.sync_active():  # a data-parallel fit: global batch statistics
            return self._moments_train(x, mask, axis, sync=True)
        if training and (mask is not None or x.size <= x.shape[axis]):
            # one value per channel (a last batch of one sample): Keras normalises it with its
            # own statistics, variance 0, where the fused kernel refuses (PyTorch's rule)
            return self._moments_train(x, mask, axis)
        # Keras folds the *biased* batch variance into the moving one (PyTorch: unbiased)
        return F.batch_norm(
            x, self.moving_mean, self.moving_variance, self.gamma, self.beta,
            training=training, momentum=1.0 - self.momentum, eps=self.epsilon, axis=axis,
            unbiased_running_var=False,
        )  # fmt: skip

    def _moments_train(self, x: Tensor, mask: Any, axis: int, sync: bool = False) -> Tensor:
        """Training-mode normalisation from moments computed by Tensor ops: over the unmasked
        positions with a mask (Keras 3), over all of them without one; with ``sync``, over
        the positions of every rank (counts and sums all-reduced, differentiably)."""
        xp = array_module(x.data)  # [Note: array module]: the moments run on x's device
        if mask is None:
            mask = xp.ones(x.shape[:axis], bool)
        m = xp.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if m.ndim > x.ndim or m.shape != tuple(x.shape[: m.ndim]) or axis < m.ndim:
            raise ValueError(
                f"BatchNormalization '{self.name}': mask of shape {m.shape} does not match "
                f"inputs of shape {tuple(x.shape)} (channel axis {axis})"
            )
        m = m.reshape(m.shape + (1,) * (x.ndim - m.ndim)).astype(x.dtype)
        red = tuple(a for a in range(x.ndim) if a != axis)
        count = xp.broadcast_to(m, x.shape).sum(axis=red, keepdims=True, dtype=np.float64)
        if sync:
            count = _dist_world.allreduce(np.ascontiguousarray(count), "sum")
        count = xp.maximum(count, 1.0)
        mt, inv_count = Tensor(m), Tensor((1.0 / count).astype(x.dtype))
        total = (x * mt).sum(axis=red, keepdims=True)
        mean = (_dist_reduce.all_reduce_sum(total) if sync else total) * inv_count
        d = x - mean
        sq = (d * d * mt).sum(axis=red, keepdims=True)
        var = (_dist_reduce.all_reduce_sum(sq) if sync else sq) * inv_count
        y = d / ops.sqrt(var + self.epsilon)
        shape = [1] * x.ndim
        shape[axis] = x.shape[axis]
        if self.gamma is not None:
            y = y * self.gamma.reshape(shape)
        if self.beta is not None:
            y = y + self.beta.reshape(shape)
        with no_grad():  # Keras: moving = momentum·moving + (1-momentum)·batch (biased var)
            mom = self.momentum
            self.moving_mean.data[...] = mom * self.moving_mean.data + (1 - mom) * (
                mean.data.reshape(-1)
            )
            self.moving_variance.data[...] = mom * self.moving_variance.data + (1 - mom) * (
                var.data.reshape(-1)
            )
        return y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            **_affine_config(self),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        }


class LayerNormalization(Module):
    """Normalise each sample over ``axis`` (the last axes), then scale by γ and shift by β."""

    supports_masking = True  # per position: the mask passes on

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.axis = [int(axis)] if isinstance(axis, int) else [int(a) for a in axis]
        if not self.axis:
            raise ValueError("LayerNormalization: axis must name at least one axis")
        if not epsilon > 0:
            raise ValueError(f"LayerNormalization: epsilon must be > 0, got {epsilon}")
        self.epsilon = float(epsilon)
        _set_affine_args(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer,
        )  # fmt: skip

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        axes = sorted(a + rank if a < 0 else a for a in self.axis)
        if any(not 1 <= a < rank for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(
                f"LayerNormalization '{self.name}': axis {self.axis} is invalid for inputs of "
                f"rank {rank}"
            )
        if axes != list(range(rank - len(axes), rank)):
            raise ValueError(
                f"LayerNormalization '{self.name}': only trailing axes can be normalised "
                f"(e.g. -1 or [-2, -1]), got {self.axis}"
            )
        shape = tuple(input_shape[a] for a in axes)
        if any(s is None for s in shape):
            raise ValueError(f"LayerNormalization '{self.name}': unknown size in {input_shape}")
        self._normalized_shape = tuple(int(s) for s in shape)
        _affine_weights(self, shape)
        self.input_spec = InputSpec(ndim=rank, axes=dict(zip(axes, self._normalized_shape)))

    def call(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self._normalized_shape, self.gamma, self.beta, eps=self.epsilon)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "axis": self.axis if len(self.axis) > 1 else self.axis[0],
            "epsilon": self.epsilon,
            **_affine_config(self),
        }


def _channel_axis(layer: str, name: str, axis: Any, rank: int) -> int:
    try:
        a = int(axis)
    except (TypeError, ValueError):
        raise TypeError(f"{layer} '{name}': axis must be an int, got {axis!r}") from None
    a = a + rank if a < 0 else a
    if not 1 <= a < rank:
        raise ValueError(f"{layer} '{name}': axis {axis} is invalid for inputs of rank {rank}")
    return a


class GroupNormalization(Module):
    """Keras's GroupNormalization (Wu & He, 2018): the channels (``axis``, the last by default)
    split into ``groups`` groups; each sample is normalised over every position and channel of
    a group, then scaled by γ and shifted by β per channel. ``groups=1`` is LayerNormalization
    over all but the batch axis; ``groups=channels`` is instance normalisation. The statistics
    are the native layer-norm kernel's (corrected two-pass) over rows of one (sample, group)."""

    def __init__(
        self,
        groups: int = 32,
        axis: int = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.groups = positive_int("GroupNormalization: groups", groups)
        if not epsilon > 0:
            raise ValueError(f"GroupNormalization: epsilon must be > 0, got {epsilon}")
        self.axis, self.epsilon = axis, float(epsilon)
        _set_affine_args(
            self, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
            gamma_regularizer,
        )  # fmt: skip

    def build(self, input_shape: tuple) -> None:
        rank = len(input_shape)
        a = _channel_axis("GroupNormalization", self.name, self.axis, rank)
        c = input_shape[a]
        if c is None:
            raise ValueError(f"GroupNormalization '{self.name}': the channel axis must be known")
        if c % self.groups:
            raise ValueError(
                f"GroupNormalization '{self.name}': channels ({c}) must be a multiple of "
                f"groups ({self.groups})"
            )
        self._axis = a
        _affine_weights(self, (c,))
        self.input_spec = InputSpec(ndim=rank, axes={a: int(c)})

    def call(self, x: Tensor) -> Tensor:
        a, g = self._axis, self.groups
        xc = ops.moveaxis(x, a, 1) if a != 1 else x  # (N, C, ...)
        n, c = xc.shape[0], xc.shape[1]
        rows = xc.reshape(n * g, -1)  # one row per (sample, group)
        if rows.shape[1] == 0:
            return x
        y = F.layer_norm(rows, (rows.shape[1],), None, None, eps=self.epsilon).reshape(xc.shape)
        bshape = (1, c) + (1,) * (xc.ndim - 2)
        if self.gamma is not None:
            y = y * self.gamma.reshape(bshape)
        if self.beta is not None:
            y = y + self.beta.reshape(bshape)
        return ops.moveaxis(y, 1, a) if a != 1 else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "groups": self.groups,
            "axis": self.axis,
            "epsilon": self.epsilon,
            **_affine_config(self),
        }


class UnitNormalization(Module):
    """Keras's UnitNormalization: each sample scaled to unit L2 norm over ``axis`` (an int
    or a list), x / sqrt(max(sum(x²), 1e-12)); no weights."""

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: Any = [int(v) for v in axis]
        elif is_int(axis):
            self.axis = int(axis)
        else:
            raise TypeError(f"UnitNormalization: axis must be an int or a list, got {axis!r}")

    def call(self, x: Tensor) -> Tensor:
        axes = tuple(self.axis) if isinstance(self.axis, list) else (self.axis,)
        for v in axes:
            if not -x.ndim <= v < x.ndim:
                raise ValueError(
                    f"UnitNormalization '{self.name}': axis {v} is invalid for rank {x.ndim}"
                )
        sq = (x * x).sum(axis=axes, keepdims=True)
        return x * ops.rsqrt(ops.maximum(sq, 1e-12))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
