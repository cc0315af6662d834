"""``Bidirectional``: a recurrent layer run forwards and a copy of it backwards over the
sequence, the two outputs merged (Keras's wrapper; see [Note: recurrent layers] in
recurrent.py)."""

from __future__ import annotations

import copy
from typing import Any

from ... import ops
from ...tensor import Tensor
from ..module import Module, deserialize, serialize
from .recurrent import RNN, _StatesAsInputs

__all__ = ["Bidirectional"]


class Bidirectional(_StatesAsInputs, Module):
    """Runs ``layer`` forwards and a copy of it backwards over the sequence and merges the two
    outputs (``merge_mode`` 'concat', 'sum', 'ave', 'mul', or None for the list of both)."""

    supports_masking = True

    def __init__(
        self,
        layer: RNN,
        merge_mode: str | None = "concat",
        weights: Any = None,
        backward_layer: RNN | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, RNN):
            raise TypeError(f"Bidirectional wraps a recurrent layer, got {type(layer).__name__}")
        if merge_mode not in ("concat", "sum", "ave", "mul", None):
            raise ValueError(
                f"Bidirectional: merge_mode must be 'concat', 'sum', 'ave', 'mul' or None, got "
                f"{merge_mode!r}"
            )
        if "input_shape" not in kwargs and layer.input_shape_arg is not None:
            kwargs["input_shape"] = layer.input_shape_arg  # Bidirectional(LSTM(.., input_shape=))
        super().__init__(**kwargs)
        self.forward_layer = layer
        if backward_layer is None:
            cfg = layer.get_config()
            cfg["go_backwards"] = not layer.go_backwards
            cfg["name"] = "backward_" + layer.name
            backward_layer = type(layer).from_config(copy.deepcopy(cfg))
        if backward_layer.return_sequences != layer.return_sequences:
            raise ValueError("Bidirectional: the two layers must agree on return_sequences")
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self._initial_weights = weights

    def build(self, input_shape: Any) -> None:
        for lyr in (self.forward_layer, self.backward_layer):
            if not lyr.built:
                lyr._maybe_build(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def _merge(self, a: Tensor, b: Tensor) -> Any:
        if self.merge_mode == "concat":
            return ops.concat([a, b], axis=-1)
        if self.merge_mode == "sum":
            return a + b
        if self.merge_mode == "ave":
            return (a + b) * 0.5
        if self.merge_mode == "mul":
            return a * b
        return [a, b]

    def call(
        self, inputs: Any, mask: Any = None, training: bool | None = None, initial_state: Any = None
    ) -> Any:
        if isinstance(inputs, (list, tuple)):  # [x, *initial_states]
            inputs, initial_state = inputs[0], list(inputs[1:]) or initial_state
        fs = bs = None
        if initial_state is not None:  # Keras: the forward layer's states, then the backward's
            n = len(self.forward_layer._state_sizes())
            fs, bs = list(initial_state[:n]), list(initial_state[n:])
        kw = {"mask": mask, "training": training}
        yf = self.forward_layer(inputs, initial_state=fs, **kw)
        yb = self.backward_layer(inputs, initial_state=bs, **kw)
        sf, sb = [], []
        if self.return_state:
            yf, sf, yb, sb = yf[0], yf[1:], yb[0], yb[1:]
        if self.return_sequences:
            yb = yb[:, ::-1]  # back to the forward layer's time order
        y = self._merge(yf, yb)
        if self.return_state:
            return (y if isinstance(y, list) else [y]) + list(sf) + list(sb)
        return y

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        n_out = 2 if self.merge_mode is None else 1
        if self.return_state:
            n = 2 * len(self.forward_layer._state_sizes())
            return [out] * n_out + [None] * n
        return [out] * 2 if n_out == 2 else out

    def compute_output_shape(self, input_shape: Any) -> Any:
        f = self.forward_layer.compute_output_shape(input_shape)
        b = self.backward_layer.compute_output_shape(input_shape)
        fo, bo = (f[0], b[0]) if self.return_state else (f, b)
        if self.merge_mode == "concat":
            outs = [(*fo[:-1], fo[-1] + bo[-1])]
        elif self.merge_mode is None:
            outs = [fo, bo]
        else:
            outs = [fo]
        if self.return_state:
            return outs + list(f[1:]) + list(b[1:])
        return outs[0] if len(outs) == 1 else outs

    def reset_states(self, states: Any = None) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def torch_state_dict(self, layer: int = 0) -> dict:
        """Both directions under PyTorch's keys (bidirectional=True: the ``_reverse`` ones)."""
        return {
            **self.forward_layer.torch_state_dict(layer),
            **self.backward_layer.torch_state_dict(layer, reverse=True),
        }

    def load_torch_state_dict(self, state_dict: dict, layer: int = 0) -> None:
        self.forward_layer.load_torch_state_dict(state_dict, layer)
        self.backward_layer.load_torch_state_dict(state_dict, layer, reverse=True)
        self.built = True

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "layer": serialize(self.forward_layer),
            "backward_layer": serialize(self.backward_layer),
            "merge_mode": self.merge_mode,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> Bidirectional:
        config = dict(config)
        config["layer"] = deserialize(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize(config["backward_layer"], custom_objects)
        return cls(**config)
