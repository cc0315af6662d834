"""Keras's EinsumDense: a dense layer whose product is an einsum equation.

``EinsumDense("abc,cd->abd", output_shape=(None, 64), bias_axes="d")`` maps (batch, 32, 128)
to (batch, 32, 64) with a (128, 64) kernel. The equation has the form ``X,Y->Z`` with the
input's subscripts X, the kernel's Y and the output's Z; the input may be elided on the left
(``...b,bc->...c``) or on the right (``ab...,bc->ac...``). ``output_shape`` gives the output's
sizes after the batch axis (None where the input decides), leaving out the elided axes.

[Note: einsum dense shapes] The kernel's shape is read from the equation, as Keras does: each
kernel subscript takes its size from the input axis of the same letter, else from the output
axis. The bias covers the output axes from the first letter of ``bias_axes`` to the end,
with size 1 on the axes of that span not named in ``bias_axes`` (and on right-elided axes), so
it broadcasts over the output. Weights are Keras's: ``kernel`` and ``bias`` in exactly these
shapes, so they exchange with Keras models as they are.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from ...ops._matmul import einsum
from ...tensor import Tensor
from .. import initializers, regularizers
from ..module import Module
from .activation import get_activation, serialize_activation

__all__ = ["EinsumDense"]

_FORMS = "[X],[Y]->[Z], ...[X],[Y]->...[Z] or [X]...,[Y]->[Z]..."


def _parse(layer: str, equation: Any) -> tuple[str, str, str, str]:
    """(input, kernel, output subscripts, elided side: '', 'left' or 'right')."""
    if not isinstance(equation, str):
        raise TypeError(f"{layer}: equation must be a string, got {type(equation).__name__}")
    eq = equation.replace(" ", "")
    for pattern, side in (
        (r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", ""),
        (r"\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)", "left"),
        (r"([a-zA-Z]{2,})\.\.\.,([a-zA-Z]+)->([a-zA-Z]+)\.\.\.", "right"),
    ):
        m = re.fullmatch(pattern, eq)
        if m:
            x, w, z = m.groups()
            for name, s in (("input", x), ("kernel", w), ("output", z)):
                if len(set(s)) != len(s):
                    raise ValueError(
                        f"{layer}: a letter repeats in the {name} subscripts of {equation!r}"
                    )
            return x, w, z, side
    raise ValueError(f"{layer}: invalid einsum equation {equation!r}; use the form {_FORMS}")


def einsum_dense_shapes(
    layer: str, equation: str, bias_axes: str | None, input_shape: tuple, output_shape: Any
) -> tuple[tuple, tuple | None, tuple]:
    """(kernel shape, bias shape or None, full output shape with the batch axis) of an
    EinsumDense on ``input_shape`` (see [Note: einsum dense shapes])."""
    x, w, z, side = _parse(layer, equation)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(x)
    if elided < 0 or (elided > 0 and not side):
        raise ValueError(
            f"{layer}: the equation {equation!r} needs inputs of rank {len(x)}"
            f"{' or more' if side else ''}, got shape {input_shape}"
        )
    partial = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    out = [input_shape[0], *partial]
    if side == "left":
        out[1:1] = input_shape[1:elided]
    elif side == "right":
        out.extend(input_shape[len(input_shape) - elided :])
    # positions of each subscript in the input and in the full output
    off = elided if side == "left" else 0
    in_pos = {c: i + off for i, c in enumerate(x)}
    out_pos = {c: i + off for i, c in enumerate(z)}
    if len(out) != len(z) + max(elided, 0):
        raise ValueError(
            f"{layer}: output_shape {output_shape!r} must give the {len(z) - 1} output axes "
            f"after the batch axis of {equation!r}"
        )
    for c in x:
        if c in out_pos and out[out_pos[c]] is not None:
            if input_shape[in_pos[c]] is not None and out[out_pos[c]] != input_shape[in_pos[c]]:
                raise ValueError(
                    f"{layer}: output_shape gives axis '{c}' size {out[out_pos[c]]}, but the "
                    f"input has {input_shape[in_pos[c]]}"
                )
    for c in z:
        if c not in x and c not in w:
            raise ValueError(f"{layer}: output axis '{c}' is in neither the input nor the kernel")
    for c in z:  # sizes the input decides
        if out[out_pos[c]] is None and c in in_pos:
            out[out_pos[c]] = input_shape[in_pos[c]]
    kernel = []
    for c in w:
        size = input_shape[in_pos[c]] if c in in_pos else out[out_pos[c]] if c in out_pos else -1
        if size == -1:
            raise ValueError(f"{layer}: kernel axis '{c}' is in neither the input nor the output")
        if size is None:
            raise ValueError(
                f"{layer}: the size of kernel axis '{c}' is unknown: give it in output_shape or "
                "in the input shape"
            )
        kernel.append(int(size))
    bias = None
    if bias_axes:
        if not isinstance(bias_axes, str):
            raise TypeError(f"{layer}: bias_axes must be a string, got {bias_axes!r}")
        for c in bias_axes:
            if c not in z:
                raise ValueError(
                    f"{layer}: bias axis '{c}' is not an output axis of the equation {equation!r}"
                )
        first = min(z.index(c) for c in bias_axes)
        bias = [int(out[out_pos[c]]) if c in bias_axes else 1 for c in z[first:]]
        if side == "right":
            bias += [1] * elided
        bias = tuple(bias)
    return tuple(kernel), bias, tuple(out)


class EinsumDense(Module):
    """``y = activation(einsum(equation, x, kernel) + bias)`` (Keras's EinsumDense; see the
    module docstring and [Note: einsum dense shapes]). The kernel's initial values use Keras's
    fans for its shape: fan_in = its second-to-last size, fan_out its last, each times the
    product of the leading sizes."""

    def __init__(
        self,
        equation: str,
        output_shape: Any,
        activation: str | Callable | None = None,
        bias_axes: str | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("lora_rank", None)  # Keras's LoRA option: not supported, nothing to keep
        super().__init__(**kwargs)
        _parse("EinsumDense", equation)
        if isinstance(output_shape, (list, tuple)):
            output_shape = tuple(output_shape)
            if any(s is not None and (not isinstance(s, int) or s <= 0) for s in output_shape):
                raise ValueError(
                    f"EinsumDense: output_shape entries must be positive ints or None, got "
                    f"{output_shape!r}"
                )
        elif (
            isinstance(output_shape, bool) or not isinstance(output_shape, int) or output_shape <= 0
        ):
            raise ValueError(
                f"EinsumDense: output_shape must be a positive int or a tuple, got {output_shape!r}"
            )
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise TypeError(f"EinsumDense: bias_axes must be a string, got {bias_axes!r}")
        self.equation = equation
        self.partial_output_shape = output_shape
        self.bias_axes = bias_axes or None
        self.activation = get_activation(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def build(self, input_shape: tuple) -> None:
        kshape, bshape, full = einsum_dense_shapes(
            f"EinsumDense '{self.name}'",
            self.equation,
            self.bias_axes,
            tuple(input_shape),
            self.partial_output_shape,
        )
        self.full_output_shape = full
        init = self.kernel_initializer
        if init is not None:
            init = initializers.keras_fans_draw(init)
        self.kernel = self.add_weight("kernel", kshape, init, regularizer=self.kernel_regularizer)
        self.bias = None
        if bshape is not None:
            self.bias = self.add_weight(
                "bias", bshape, self.bias_initializer, regularizer=self.bias_regularizer
            )

    def call(self, x: Tensor) -> Tensor:
        y = einsum(self.equation, x, self.kernel)
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return einsum_dense_shapes(
            f"EinsumDense '{self.name}'",
            self.equation,
            self.bias_axes,
            tuple(input_shape),
            self.partial_output_shape,
        )[2]

    def get_config(self) -> dict:
        out = self.partial_output_shape
        return {
            **super().get_config(),
            "equation": self.equation,
            "output_shape": list(out) if isinstance(out, tuple) else out,
            "activation": serialize_activation(self.activation),
            "bias_axes": self.bias_axes,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }

    def extra_repr(self) -> str:
        return f"equation={self.equation!r}, output_shape={self.partial_output_shape!r}"
