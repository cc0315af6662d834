"""Recurrent layers with Keras's names and arguments: SimpleRNN, LSTM, GRU, the cells
SimpleRNNCell / LSTMCell / GRUCell (recurrent_cells.py), a generic RNN(cell), and Bidirectional.

[Note: recurrent layers] The weights are Keras's, in Keras's names, shapes and gate orders:
``kernel (input_dim, G*units)``, ``recurrent_kernel (units, G*units)``, ``bias`` (LSTM
``(4*units,)`` i, f, c, o; GRU z, r, h, ``(2, 3*units)`` with ``reset_after`` (input and
recurrent biases) else ``(3*units,)``; SimpleRNN ``(units,)``), so ``get_weights`` /
``set_weights`` exchange arrays with Keras unchanged. They live in the layer's ``cell``.

A whole sequence runs through one fused native call (``F.lstm`` / ``F.gru`` / ``F.rnn``: the
time loop and backpropagation through time in C++, see csrc/rnn.h) whenever the cell is a
built-in one with activations the kernels fuse (tanh, sigmoid, relu, hard_sigmoid, linear),
recurrent dropout included; the weights are transposed to PyTorch's layout for the call (a
weights-sized copy per call). Otherwise (a custom cell or another activation) the layer steps
the cell in Python, one time step per iteration, exactly as ``RNN(cell)`` does.

Masks (``call(x, mask=...)``, e.g. from ``Embedding(mask_zero=True)``): a masked step keeps
the state and repeats the previous output (zeros before the first real step), or outputs zeros
with ``zero_output_for_mask=True``; the output mask is the input mask when
``return_sequences``. ``dropout`` / ``recurrent_dropout`` draw one mask per sequence, reused at
every step (Keras). ``go_backwards`` reads the sequence from its end and returns the outputs in
that (reversed) order, as Keras. ``stateful=True`` keeps the last states for the next batch
(``reset_states()`` zeroes them). ``unroll`` is accepted and ignored: the fused kernel is used
either way.

PyTorch interchange: ``layer.torch_state_dict()`` and ``layer.load_torch_state_dict(sd)`` use
``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN``'s keys (``weight_ih_l0`` ...; ``layer=k`` for a stacked
PyTorch module, ``reverse=True`` for its ``_reverse`` direction). An LSTM's two PyTorch biases
add into Keras's one; a GRU converts only with ``reset_after=True`` (PyTorch's formulation).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ... import ops
from ...tensor import Tensor
from .. import functional as F
from ..module import InputSpec, Module, deserialize, serialize
from .recurrent_cells import (
    _BUILTIN_CELLS,
    GRUCell,
    LSTMCell,
    SimpleRNNCell,
    _Cell,
    _data,
    _dropout_mask,
)

__all__ = [
    "SimpleRNNCell",
    "LSTMCell",
    "GRUCell",
    "RNN",
    "SimpleRNN",
    "LSTM",
    "GRU",
]


# ------------------------------------------------------------------------------ the layer
def _shape(size: Any) -> tuple:
    """A Keras state or output size (an int or a shape) as a shape without the batch axis."""
    return tuple(int(d) for d in size) if isinstance(size, (list, tuple)) else (int(size),)


def _takes(fn: Any, name: str) -> bool:
    """Does ``fn`` accept the keyword argument ``name``?"""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _keep(m_t: np.ndarray, like: Tensor) -> np.ndarray:
    """One time step's mask (batch,) shaped to broadcast against ``like`` (batch, ...)."""
    return m_t.reshape((-1,) + (1,) * (like.ndim - 1))


class _StatesAsInputs:
    """Keras's ``layer(x, initial_state=[h, c])`` travels as the list input ``[x, h, c]``:
    the form a functional graph can record (its placeholders are positional arguments)."""

    def __call__(self, inputs: Any, *args: Any, initial_state: Any = None, **kwargs: Any) -> Any:
        if initial_state is not None:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            x = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            inputs = [x, *states]
        return super().__call__(inputs, *args, **kwargs)  # type: ignore[misc]


class RNN(_StatesAsInputs, Module):
    """A recurrent layer over ``cell`` (a built-in cell, or any Module with ``call(inputs,
    states, training=None) -> (output, new_states)`` and ``state_size``). See
    [Note: recurrent layers]."""

    supports_masking = True

    def __init__(
        self,
        cell: Module,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        if not isinstance(cell, Module) or not hasattr(cell, "state_size"):
            raise TypeError(
                f"RNN needs a cell (a layer with call(inputs, states) and state_size), got "
                f"{type(cell).__name__}"
            )
        # Keras 2's input_length / input_dim for the first layer of a Sequential
        length, dim = kwargs.pop("input_length", None), kwargs.pop("input_dim", None)
        if (length is not None or dim is not None) and "input_shape" not in kwargs:
            kwargs["input_shape"] = (length, dim)
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self._states: list[Tensor] | None = None

    # ------------------------------------------------------------------ shapes
    def _state_sizes(self) -> list[Any]:
        s = self.cell.state_size
        return list(s) if isinstance(s, (list, tuple)) else [int(s)]

    def _state_shapes(self) -> list[tuple]:
        """Each state's shape without the batch axis (Keras's ``state_size``: one entry per
        state, an int or a shape)."""
        return [_shape(s) for s in self._state_sizes()]

    def _output_shapes(self) -> tuple[bool, list[tuple]]:
        """(are the cell's outputs a nested structure, each output's shape without the batch
        axis): Keras's ``output_size`` (an int, a shape, or a list of them), else the first
        state's size."""
        s = getattr(self.cell, "output_size", None)
        if s is None:
            return False, [self._state_shapes()[0]]
        if isinstance(s, (list, tuple)) and s and isinstance(s[0], (list, tuple)):
            return True, [_shape(v) for v in s]
        return False, [_shape(s)]

    def _output_size(self) -> int:
        return self._output_shapes()[1][0][-1]

    def _split(self, inputs: list | tuple) -> tuple[Any, list | None]:
        """[Note: nested sequences] A list input is Keras 2's ``[x, *initial_states]`` (how
        ``initial_state=`` travels in a graph) when its tail has the states' shapes; otherwise,
        when every element is a sequence (batch, time, ...) of the same batch and length, it is
        Keras's nested input of a custom cell (keras.io's "Working with RNNs" ``NestedCell``):
        the cell gets the structure's time step at each step, as a tuple. Takes Tensors or
        shapes; returns (the sequence or the tuple of sequences, the states or None)."""
        shapes = [tuple(v.shape) if hasattr(v, "shape") else tuple(v) for v in inputs]
        states = self._state_shapes()
        if len(inputs) == 1 + len(states) and all(
            tuple(sh[1:]) == st for sh, st in zip(shapes[1:], states)
        ):
            return inputs[0], list(inputs[1:])
        if len(inputs) > 1 and all(len(sh) >= 3 and sh[:2] == shapes[0][:2] for sh in shapes):
            return tuple(inputs), None
        return inputs[0], list(inputs[1:]) or None

    def build(self, input_shape: Any) -> None:
        shape = input_shape
        if isinstance(input_shape, list):
            shape, _ = self._split(input_shape)
        if isinstance(shape, tuple) and shape and isinstance(shape[0], (list, tuple)):
            if not self.cell.built:  # nested sequences: each one's step shape
                self.cell.build([(sh[0], *sh[2:]) for sh in shape])
            return
        if shape is None or len(shape) != 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs inputs (batch, time, features), got "
                f"{shape}"
            )
        if not self.cell.built:
            self.cell.build((shape[0], shape[2]))
        self.input_spec = InputSpec(ndim=3, axes={-1: shape[2]})

    def _check_input(self, x: Any) -> None:
        super()._check_input(x[0] if isinstance(x, list) else x)

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = input_shape
        if isinstance(input_shape, list):
            shape, _ = self._split(input_shape)
        if isinstance(shape, tuple) and shape and isinstance(shape[0], (list, tuple)):
            shape = shape[0]
        nested, outs = self._output_shapes()
        B, T = shape[0], shape[1]
        per = [(B, T, *o) if self.return_sequences else (B, *o) for o in outs]
        out = per if nested else per[:1]
        if self.return_state:
            return out + [(B, *st) for st in self._state_shapes()]
        return out if nested else out[0]

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out = mask if self.return_sequences else None
        nested, outs = self._output_shapes()
        outs_mask = [out] * len(outs) if nested else [out]
        if self.return_state:
            return outs_mask + [None] * len(self._state_sizes())
        return outs_mask if nested else out

    # ------------------------------------------------------------------ states
    def reset_states(self, states: Any = None) -> None:
        """Stateful layers: zero the kept states, or set them to ``states``."""
        if not self.stateful:
            raise AttributeError(f"layer '{self.name}' is not stateful")
        if states is None:
            self._states = None
            return
        states = states if isinstance(states, (list, tuple)) else [states]
        self._states = [Tensor(np.asarray(_data(s), self._np_dtype)) for s in states]

    @property
    def states(self) -> list[Tensor] | None:
        return self._states

    def _initial_states(self, batch: int, initial_state: Any) -> list[Tensor]:
        n = len(self._state_sizes())
        if initial_state is None and self.stateful and self._states is not None:
            if self._states[0].shape[0] != batch:
                raise ValueError(
                    f"stateful layer '{self.name}' kept states for a batch of "
                    f"{self._states[0].shape[0]}, got a batch of {batch}"
                )
            initial_state = self._states
        if initial_state is None:
            return [Tensor(np.zeros((batch, *s), self._np_dtype)) for s in self._state_shapes()]
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        if len(states) != n:
            raise ValueError(
                f"layer '{self.name}' has {n} state(s), initial_state has {len(states)}"
            )
        out = []
        for s, size in zip(states, self._state_shapes()):
            s = s if isinstance(s, Tensor) else Tensor(np.asarray(s, self._np_dtype))
            if s.shape != (batch, *size):
                raise ValueError(
                    f"layer '{self.name}': initial state of shape {s.shape}, expected "
                    f"{(batch, *size)}"
                )
            out.append(s)
        return out

    # ------------------------------------------------------------------ call
    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        initial_state: Any = None,
    ) -> Any:
        if isinstance(inputs, (list, tuple)):  # [x, *initial_states] or nested sequences
            inputs, given = self._split(inputs)
            initial_state = given or initial_state
        if isinstance(inputs, tuple):
            return self._call_nested(inputs, mask, training, initial_state)
        x = inputs if isinstance(inputs, Tensor) else Tensor(np.asarray(inputs))
        if x.dtype.kind != "f":  # one-hot bool / int sequences
            x = Tensor(x.data.astype(self._np_dtype))
        if x.ndim != 3:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs inputs (batch, time, features), got "
                f"shape {x.shape}"
            )
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = self._initial_states(x.shape[0], initial_state)
        cell = self.cell
        if getattr(cell, "_fusable", lambda: False)():
            out_seq, last, new_states = self._fused(x, mask, states, bool(training))
        else:
            out_seq, last, new_states = self._loop(x, mask, states, bool(training))
        if self.stateful:
            self._states = [s.detach() for s in new_states]
        out = out_seq if self.return_sequences else last
        return [out, *new_states] if self.return_state else out

    def _call_nested(self, inputs: tuple, mask: Any, training: Any, initial_state: Any) -> Any:
        """A custom cell's nested sequences ([Note: nested sequences]), stepped by _loop."""
        xs = tuple(
            v if isinstance(v, Tensor) else Tensor(np.asarray(v, self._np_dtype)) for v in inputs
        )
        if getattr(self.cell, "_fusable", lambda: False)():
            raise ValueError(
                f"{type(self.cell).__name__} takes one sequence (batch, time, features), got "
                f"{len(xs)} sequences"
            )
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        states = self._initial_states(xs[0].shape[0], initial_state)
        out_seq, last, new_states = self._loop(xs, mask, states, bool(training))
        if self.stateful:
            self._states = [s.detach() for s in new_states]
        out = list(out_seq if self.return_sequences else last)
        return [*out, *new_states] if self.return_state else out

    def _fused(self, x: Tensor, mask: Any, states: list, training: bool) -> tuple:
        """The whole sequence in one native call (F.rnn / F.lstm / F.gru)."""
        cell = self.cell
        B = x.shape[0]
        # one mask per sequence, the same at every step; drawn in the order the cells draw them
        if training and cell.dropout > 0:
            x = x * _dropout_mask((B, 1, x.shape[2]), cell.dropout, x.dtype)
        h_mask = None
        if training and cell.recurrent_dropout > 0:
            h_mask = _dropout_mask((B, cell.units), cell.recurrent_dropout, x.dtype).data
        w = cell._torch_weights()
        kw = dict(
            cell._fused_options(),
            mask=None if mask is None else _data(mask),
            zero_output=self.zero_output_for_mask,
            reverse=self.go_backwards,
            h_mask=h_mask,
        )
        if cell._kind == "lstm":
            out, (h, c) = F.lstm(x, (states[0], states[1]), *w, **kw)
            new = [h, c]
        elif cell._kind == "gru":
            out, h = F.gru(x, states[0], *w, reset_after=cell.reset_after, **kw)
            new = [h]
        else:
            act = kw.pop("activation")
            out, h = F.rnn(x, states[0], *w, nonlinearity=act, **kw)
            new = [h]
        # Keras's outputs are in processing order; ours stay at their time positions
        if self.go_backwards:
            last = out[:, 0] if mask is not None else new[0]
            seq = out[:, ::-1] if self.return_sequences else None
        else:
            last = out[:, -1] if mask is not None else new[0]
            seq = out
        return seq, last, new

    def _loop(self, x: Tensor | tuple, mask: Any, states: list, training: bool) -> tuple:
        """Step the cell in Python, one time step per iteration (a custom cell: its ``call``
        is Python). ``x`` is one sequence, or a tuple of them for a cell with nested inputs
        (then the outputs are lists, one entry per output of the cell)."""
        cell = self.cell
        nested = isinstance(x, tuple)
        first = x[0] if nested else x
        B, T = first.shape[0], first.shape[1]
        if hasattr(cell, "reset_dropout_mask"):
            cell.reset_dropout_mask()
        m = None if mask is None else np.asarray(_data(mask)).astype(bool)
        # Keras passes training= only to a cell whose call takes it
        kw = {"training": training} if _takes(cell.call, "training") else {}
        steps: list[list[Tensor]] = []  # per step, the cell's outputs
        prev: list[Tensor] | None = None
        for t in range(T - 1, -1, -1) if self.go_backwards else range(T):
            y, new = cell.call(tuple(v[:, t] for v in x) if nested else x[:, t], states, **kw)
            ys = list(y) if nested else [y]
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            if m is not None:
                new = [ops.where(_keep(m[:, t], n), n, s) for n, s in zip(new, states)]
                ys = [
                    ops.where(
                        _keep(m[:, t], v),
                        v,
                        prev[i] if prev is not None and not self.zero_output_for_mask else v * 0,
                    )
                    for i, v in enumerate(ys)
                ]
            states, prev = new, ys
            steps.append(ys)
        if hasattr(cell, "reset_dropout_mask"):
            cell.reset_dropout_mask()
        if not steps:
            outs = self._output_shapes()[1]
            seq = [Tensor(np.zeros((B, 0, *o), self._np_dtype)) for o in outs]
            last = [Tensor(np.zeros((B, *o), self._np_dtype)) for o in outs]
        else:
            last = steps[-1]
            seq = None
            if self.return_sequences:
                seq = [ops.stack([ys[i] for ys in steps], axis=1) for i in range(len(last))]
        if nested:
            return seq, last, states
        return (None if seq is None else seq[0]), last[0], states

    # ------------------------------------------------------------------ PyTorch weights
    def torch_state_dict(self, layer: int = 0, reverse: bool = False) -> dict:
        """This layer's weights under PyTorch's nn.LSTM / nn.GRU / nn.RNN keys (NumPy arrays)."""
        cell = self._torch_cell()
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")
        w_ih, w_hh, b_ih, b_hh = (
            None if t is None else np.array(t.data) for t in cell._torch_weights()
        )
        n = w_ih.shape[0]
        out = {f"weight_ih{suffix}": w_ih, f"weight_hh{suffix}": w_hh}
        if cell.use_bias:
            out[f"bias_ih{suffix}"] = b_ih
            out[f"bias_hh{suffix}"] = np.zeros(n, w_ih.dtype) if b_hh is None else b_hh
        return out

    def load_torch_state_dict(
        self, state_dict: dict, layer: int = 0, reverse: bool = False
    ) -> None:
        """Set this layer's weights from PyTorch's nn.LSTM / nn.GRU / nn.RNN state dict
        (Tensors or arrays; builds the layer if needed)."""
        cell = self._torch_cell()
        suffix = f"_l{layer}" + ("_reverse" if reverse else "")

        def get(key: str) -> np.ndarray | None:
            v = state_dict.get(key + suffix)
            if v is None:
                return None
            v = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(_data(v))
            return np.asarray(v, np.float64)

        w_ih, w_hh, b_ih, b_hh = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
        if w_ih is None or w_hh is None:
            raise KeyError(f"the state dict has no weight_ih{suffix} / weight_hh{suffix}")
        G = cell._gates
        if w_hh.shape != (G * cell.units, cell.units):
            raise ValueError(
                f"weight_hh{suffix} has shape {w_hh.shape}; layer '{self.name}' needs "
                f"{(G * cell.units, cell.units)}"
            )
        if not cell.built:
            cell.build((None, w_ih.shape[1]))
            self.built = True
        if (b_ih is None) != (not cell.use_bias):
            raise ValueError(
                f"layer '{self.name}': use_bias={cell.use_bias} but the state dict "
                f"{'has no' if b_ih is None else 'has'} biases"
            )
        perm = cell._torch_order()
        inv = np.argsort(perm) if perm is not None else slice(None)
        cell.kernel.data[...] = w_ih.T[:, inv]
        cell.recurrent_kernel.data[...] = w_hh.T[:, inv]
        if cell.use_bias:
            b_hh = np.zeros_like(b_ih) if b_hh is None else b_hh
            if cell.bias.ndim == 2:
                cell.bias.data[...] = np.stack([b_ih[inv], b_hh[inv]])
            elif cell._kind == "gru":  # reset_after=False: the recurrent n bias has no place
                raise ValueError(
                    "PyTorch's GRU is the reset_after=True formulation; build the layer with "
                    "reset_after=True to load its weights"
                )
            else:
                cell.bias.data[...] = (b_ih + b_hh)[inv]

    def _torch_cell(self) -> _Cell:
        cell = self.cell
        if type(cell) not in _BUILTIN_CELLS:
            raise TypeError(f"layer '{self.name}': only the built-in cells convert to PyTorch")
        if cell._kind == "gru" and not cell.reset_after:
            raise ValueError(
                "PyTorch's GRU is the reset_after=True formulation; this layer has "
                "reset_after=False"
            )
        return cell

    # ------------------------------------------------------------------ config
    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "cell": serialize(self.cell),
            **self._rnn_config(),
        }

    def _rnn_config(self) -> dict:
        return {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> RNN:
        config = dict(config)
        config["cell"] = deserialize(config["cell"], custom_objects)
        return cls(**config)

    def extra_repr(self) -> str:
        return f"units={self._output_size()}, return_sequences={self.return_sequences}"


# the layer arguments that belong to the cell (everything else goes to RNN / Module)
_CELL_ARGS = (
    "activation", "recurrent_activation", "use_bias", "kernel_initializer",
    "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
    "bias_regularizer", "dropout", "recurrent_dropout", "unit_forget_bias", "reset_after",
)  # fmt: skip


class _Recurrent(RNN):
    """SimpleRNN / LSTM / GRU: an RNN over a cell made from the layer's own arguments, whose
    config is flat (Keras's)."""

    _cell_class: type = SimpleRNNCell

    def __init__(self, units: int, **kwargs: Any) -> None:
        cell_kw = {k: kwargs.pop(k) for k in _CELL_ARGS if k in kwargs}
        dtype = kwargs.get("dtype")
        cell = self._cell_class(units, **cell_kw, dtype=dtype, name=_cell_name(type(self).__name__))
        kwargs.pop("time_major", None)  # Keras 2 argument: always batch-major here
        super().__init__(cell, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Keras exposes the cell's arguments and weights on the layer (layer.units, layer.kernel)
        cell = self.__dict__.get("cell")
        if cell is not None and not name.startswith("_"):
            return getattr(cell, name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def get_config(self) -> dict:
        cfg = self.cell.get_config()
        for k in ("name", "trainable", "dtype", "input_shape", "batch_size"):
            cfg.pop(k, None)
        return {**Module.get_config(self), **cfg, **self._rnn_config()}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> RNN:
        return cls(**config)


def _cell_name(layer: str) -> str:
    return {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}[layer]


class SimpleRNN(_Recurrent):
    """Fully connected RNN: h_t = activation(x_t W + h_{t-1} U + b) (Keras arguments)."""

    _cell_class = SimpleRNNCell


class LSTM(_Recurrent):
    """Long short-term memory (Hochreiter 1997), Keras arguments and weights."""

    _cell_class = LSTMCell


class GRU(_Recurrent):
    """Gated recurrent unit (Cho et al. 2014), Keras arguments and weights; ``reset_after``
    (default True) is the cuDNN / PyTorch formulation."""

    _cell_class = GRUCell
