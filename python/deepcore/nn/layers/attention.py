"""Attention layers with Keras's names and arguments: MultiHeadAttention, Attention (Luong
dot-product) and AdditiveAttention (Bahdanau); the position encodings and the keras-hub
Transformer blocks over them are in transformer.py.

[Note: attention masks in layers] Keras's convention: a boolean mask is True (1) where
attention is allowed. MultiHeadAttention combines, as Keras does, the explicit
``attention_mask`` (B, T, S) with the implicit ones: the query's mask (B, T) (from
``Embedding(mask_zero=True)`` upstream, handed over by Sequential / functional models as
``mask=``, or passed as ``query_mask=``), the value's and key's masks (B, S) and
``use_causal_mask`` (query i sees keys j <= i). The combined mask goes to the fused kernel as
a (B, 1, T, S) boolean broadcast over heads; a causal mask alone is the kernel's ``is_causal``
(its blocks above the diagonal are skipped, not masked). Where Keras adds -1e9 to masked
scores, a query row with nothing to attend there gets uniform weights; here it gets zeros (the
kernel's [Note: fully masked rows]) — only padding rows differ, and the output mask marks them.
The materialised path (``return_attention_scores=True``) follows the same rules.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import positive_int, unit_rate
from ...tensor import Tensor
from .. import functional as F
from ..functional._attention import _attend, _sdpa_materialized
from ..input_spec import _as_tensor
from ..module import Module
from .core import Dense, kernel_and_bias_config, set_kernel_args

__all__ = [
    "MultiHeadAttention",
    "Attention",
    "AdditiveAttention",
]


def _bool_mask(m: Any) -> np.ndarray | None:
    """A Keras mask (Tensor or array of bools, 0/1 ints or floats) as a NumPy bool array."""
    if m is None:
        return None
    a = m.data if isinstance(m, Tensor) else np.asarray(m)
    return a if a.dtype == np.bool_ else a != 0


def _and(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a & b


def _check_sequence(layer: Module, name: str, x: Any, dim: int | None = None) -> None:
    shape = tuple(x.shape)
    if len(shape) != 3:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {name} must be (batch, length, features), "
            f"got shape {shape}"
        )
    if dim is not None and shape[-1] != dim:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': {name} has {shape[-1]} features, the layer "
            f"was built for {dim}"
        )


def _query_value_key(
    layer: Module, query: Tensor, value: Any, key: Any, query_features: int
) -> tuple[Tensor, Tensor]:
    """(value, key) as Tensors (key defaults to value), the three checked as (batch, length,
    features) sequences sharing the batch size, key and value the length."""
    value = _as_tensor(value, layer._np_dtype)
    key = value if key is None else _as_tensor(key, layer._np_dtype)
    _check_sequence(layer, "query", query, query_features)
    _check_sequence(layer, "value", value)
    _check_sequence(layer, "key", key)
    if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}': query {tuple(query.shape)}, value "
            f"{tuple(value.shape)} and key {tuple(key.shape)} must share the batch size, "
            "and key and value the length"
        )
    return value, key


def _attend_heads(
    q: Tensor, k: Tensor, v: Tensor, m: Any, p: float, causal: bool, return_scores: bool
) -> tuple[Tensor, Tensor | None]:
    """Attention of (B, H, T, d) heads under the combined (B, T, S) mask ``m`` (broadcast
    over heads): the fused kernel, or the materialised path when the scores are wanted."""
    mask4 = None if m is None else m[:, None]
    if return_scores:
        return _sdpa_materialized(q, k, v, mask4, p, bool(causal))
    return F.scaled_dot_product_attention(q, k, v, mask4, p, bool(causal)), None


def _input_masks(mask: Any, query_mask: Any, value_mask: Any, key_mask: Any) -> tuple:
    """(query_mask, value_mask, key_mask): the explicit ones, else those handed over as
    ``mask`` (one mask: the query's; a list: [query, value(, key)])."""
    if isinstance(mask, (list, tuple)):
        mask = list(mask) + [None, None]
        query_mask = query_mask if query_mask is not None else mask[0]
        value_mask = value_mask if value_mask is not None else mask[1]
        key_mask = key_mask if key_mask is not None else mask[2]
    elif query_mask is None:
        query_mask = mask
    return query_mask, value_mask, key_mask


def _attention_mask(
    layer: Module, B: int, T: int, S: int, query_mask, value_mask, key_mask, attention_mask
) -> np.ndarray | None:
    """The combined (B|1, T|1, S|1) boolean mask of a multi-head layer, or None (see [Note:
    attention masks in layers]); causality is left to the kernel."""
    m = None
    for name, mk, shape, expand in (
        ("query_mask", query_mask, (B, T), lambda a: a[:, :, None]),
        ("value_mask", value_mask, (B, S), lambda a: a[:, None, :]),
        ("key_mask", key_mask, (B, S), lambda a: a[:, None, :]),
    ):
        a = _bool_mask(mk)
        if a is None:
            continue
        if a.shape != shape:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': {name} must have shape {shape}, got "
                f"{a.shape}"
            )
        m = _and(m, expand(a))
    a = _bool_mask(attention_mask)
    if a is not None:
        try:
            np.broadcast_shapes(a.shape, (B, T, S))
            if a.ndim != 3:
                raise ValueError
        except ValueError:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}': attention_mask must broadcast to "
                f"(batch, T, S) = {(B, T, S)}, got shape {a.shape}"
            ) from None
        m = _and(m, a)
    return m


class _QueryMaskPasses(Module):
    """The output of an attention layer carries its query's mask (Keras); with several
    inputs' masks ([query, value, key]) that is the first."""

    supports_masking = True

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask[0] if isinstance(mask, (list, tuple)) else mask


class _HeadsAttention(_QueryMaskPasses):
    """What MultiHeadAttention and GroupQueryAttention share: Keras's call (query, value,
    key, the masks of [Note: attention masks in layers]), the key / value projections built on
    the first call, attention of the heads by the fused kernel. A subclass projects the
    inputs to (B, heads, L, d) heads (``_project``) and the (B, T, heads, d) result back to
    features (``_merge``)."""

    _masks_per_argument = True  # functional models hand over [query, value, key] masks

    def call(
        self,
        query: Tensor,
        value: Tensor,
        key: Tensor | None = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
        mask: Any = None,
    ) -> Any:
        value, key = _query_value_key(self, query, value, key, self._query_features)
        if not hasattr(self, "value_dense"):
            self._build_kv(tuple(value.shape), tuple(key.shape))
        _check_sequence(self, "value", value, self.value_dense.kernel.shape[0])
        _check_sequence(self, "key", key, self.key_dense.kernel.shape[0])
        B, T, S = query.shape[0], query.shape[1], value.shape[1]
        masks = _input_masks(mask, query_mask, value_mask, key_mask)
        m = _attention_mask(self, B, T, S, *masks, attention_mask)
        q, k, v = self._project(query, key, value)
        p = self.dropout if training else 0.0
        o, scores = _attend_heads(q, k, v, m, p, use_causal_mask, return_attention_scores)
        # (B, H, T, vd) -> (B, T, H, vd), in that memory order already: a free view
        out = self._merge(o.transpose(0, 2, 1, 3))
        return (out, scores) if return_attention_scores else out


# ---------------------------------------------------------------------- MultiHeadAttention
class MultiHeadAttention(_HeadsAttention):
    """Keras's MultiHeadAttention on (batch, length, features) sequences.

    ``mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    training=None, use_causal_mask=False)`` (value before key; key defaults to value): query,
    key and value are projected to ``num_heads`` heads of ``key_dim`` (``value_dim``)
    features, attended per head by the fused kernel (scaled by 1/sqrt(key_dim), dropout on
    the probabilities in training) and projected back to ``output_shape`` features (default:
    the query's). Masks: see [Note: attention masks in layers]; the output carries the query's
    mask. With ``return_attention_scores`` it returns (output, scores (B, heads, T, S)) from
    the materialised path.

    Weights: ``query_dense`` / ``key_dense`` / ``value_dense`` are Dense layers of
    num_heads * key_dim (value_dim) units, head h taking units [h*key_dim, (h+1)*key_dim);
    ``output_dense`` a Dense of output_shape units. Keras's (dim, heads, key_dim) kernel is
    ``query_dense.kernel.numpy().reshape(dim, heads, key_dim)``; the transposed kernels are
    PyTorch's ``nn.MultiheadAttention`` in_proj / out_proj blocks.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | tuple | None = None,
        attention_axes: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_heads = positive_int("MultiHeadAttention: num_heads", num_heads)
        self.key_dim = positive_int("MultiHeadAttention: key_dim", key_dim)
        self.value_dim = (
            self.key_dim
            if value_dim is None
            else positive_int("MultiHeadAttention: value_dim", value_dim)
        )
        self.dropout = unit_rate("MultiHeadAttention: dropout", dropout)
        if isinstance(output_shape, (tuple, list)):
            if len(output_shape) != 1:
                raise ValueError(
                    "MultiHeadAttention: output_shape must be an int or a 1-tuple (outputs of "
                    f"(batch, length, features)), got {output_shape!r}"
                )
            output_shape = output_shape[0]
        self.output_shape = (
            None
            if output_shape is None
            else positive_int("MultiHeadAttention: output_shape", output_shape)
        )
        if attention_axes not in (None, 1, (1,), [1]):
            raise ValueError(
                "MultiHeadAttention: attention runs over the length axis of (batch, length, "
                f"features) inputs; attention_axes={attention_axes!r} is not supported"
            )
        set_kernel_args(
            self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer,
        )  # fmt: skip
        self.seed = seed

    def _dense(self, units: int, in_dim: int) -> Dense:
        d = Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
        )
        d.build((None, None, in_dim))
        return d

    def build(self, input_shape: Any) -> None:
        """``build(query_shape)`` creates the query projection, and the key, value and output
        ones on the first call (they depend on the value's features); ``build([query_shape,
        value_shape(, key_shape)])`` creates them all."""
        query_shape, value_shape, key_shape = input_shape, None, None
        if isinstance(input_shape, list):
            query_shape, value_shape, key_shape = (list(input_shape) + [None, None])[:3]
        if len(query_shape) != 3 or query_shape[-1] is None:
            raise ValueError(
                f"MultiHeadAttention '{self.name}': query must be (batch, length, features) "
                f"with known features, got {tuple(query_shape)}"
            )
        self._query_features = int(query_shape[-1])
        H = self.num_heads
        self.query_dense = self._dense(H * self.key_dim, self._query_features)
        if value_shape is not None:
            self._build_kv(value_shape, key_shape or value_shape)

    def _build_kv(self, value_shape: tuple, key_shape: tuple) -> None:
        H = self.num_heads
        self.key_dense = self._dense(H * self.key_dim, int(key_shape[-1]))
        self.value_dense = self._dense(H * self.value_dim, int(value_shape[-1]))
        out = self.output_shape or self._query_features
        self.output_dense = self._dense(out, H * self.value_dim)

    def _heads(self, dense: Dense, x: Tensor, d: int) -> Tensor:
        """(B, L, features) -> (B, H, L, d): a head view of the projection, no copy (the
        kernel reads the heads through their strides)."""
        B, L = x.shape[0], x.shape[1]
        return dense(x).reshape(B, L, self.num_heads, d).transpose(0, 2, 1, 3)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        return (
            self._heads(self.query_dense, query, self.key_dim),
            self._heads(self.key_dense, key, self.key_dim),
            self._heads(self.value_dense, value, self.value_dim),
        )

    def _merge(self, o: Tensor) -> Tensor:
        return self.output_dense(o.reshape(o.shape[0], o.shape[1], -1))

    def compute_output_shape(self, query_shape: Any, value_shape: Any = None) -> tuple:
        if isinstance(query_shape, list):
            query_shape = query_shape[0]
        return (*tuple(query_shape)[:-1], self.output_shape or query_shape[-1])

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dim": self.value_dim,
            "dropout": self.dropout,
            "output_shape": self.output_shape,
            **kernel_and_bias_config(self),
            "seed": self.seed,
        }


# ---------------------------------------------------------------------- Luong / Bahdanau
class _BaseDenseAttention(_QueryMaskPasses):
    """Keras's dense attention layers: ``layer([query, value(, key)], mask=[query_mask,
    value_mask], return_attention_scores=False, use_causal_mask=False)`` on (batch, Tq, dim)
    queries and (batch, Tv, dim) values (keys default to the values). Masked keys are left out
    of the softmax, the outputs of masked query steps are zeroed, the output carries the
    query's mask."""

    def __init__(self, dropout: float = 0.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dropout = unit_rate(f"{type(self).__name__}: dropout", dropout)
        self.seed = seed

    def _inputs(self, inputs: Any) -> tuple:
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"{type(self).__name__} '{self.name}' takes a list [query, value] or [query, "
                f"value, key], got {type(inputs).__name__}"
            )
        q, v = inputs[0], _as_tensor(inputs[1], self._np_dtype)
        k = v if len(inputs) == 2 else _as_tensor(inputs[2], self._np_dtype)
        for name, x in (("query", q), ("value", v), ("key", k)):
            _check_sequence(self, name, x)
        if k.shape[:2] != v.shape[:2] or q.shape[0] != v.shape[0] or q.shape[-1] != k.shape[-1]:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': query {tuple(q.shape)}, value "
                f"{tuple(v.shape)} and key {tuple(k.shape)} must share the batch size, key and "
                "value the length, query and key the features"
            )
        return q, v, k

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        raise NotImplementedError

    def call(
        self,
        inputs: Any,
        mask: Any = None,
        training: bool | None = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> Any:
        q, v, k = self._inputs(inputs)
        masks = list(mask) + [None, None] if isinstance(mask, (list, tuple)) else [mask, None]
        q_mask, v_mask = _bool_mask(masks[0]), _bool_mask(masks[1])
        B, Tq, Tv = q.shape[0], q.shape[1], v.shape[1]
        keep = None if v_mask is None else v_mask[:, None, None, :]  # (B, 1, 1, Tv)
        p = self.dropout if training else 0.0
        fused = self._fused_query(q)
        if fused is not None and not return_attention_scores:
            out = F.scaled_dot_product_attention(
                fused.reshape(B, 1, Tq, -1), k.reshape(B, 1, Tv, -1), v.reshape(B, 1, Tv, -1),
                keep, p, bool(use_causal_mask), 1.0,
            )  # fmt: skip
            out, weights = out.reshape(B, Tq, -1), None
        else:
            s = self._scores(q, k).reshape(B, 1, Tq, Tv)
            out, weights = _attend(s, v.reshape(B, 1, Tv, -1), keep, p, bool(use_causal_mask))
            out, weights = out.reshape(B, Tq, -1), weights.reshape(B, Tq, Tv)
        if q_mask is not None:
            out = out * Tensor(q_mask[:, :, None].astype(out.dtype))
        return (out, weights) if return_attention_scores else out

    def _fused_query(self, q: Tensor) -> Tensor | None:
        """The query whose plain dot product with the keys gives the scores (the fused
        kernel's path), or None when the scores are not a dot product."""
        return None

    def compute_output_shape(self, input_shape: Any) -> tuple:
        q, v = input_shape[0], input_shape[1]
        return (*tuple(q)[:-1], v[-1])

    def get_config(self) -> dict:
        return {**super().get_config(), "dropout": self.dropout, "seed": self.seed}


class Attention(_BaseDenseAttention):
    """Keras's dot-product (Luong) attention: scores = query · keyᵀ (times a learnable scalar
    with ``use_scale``); ``score_mode="concat"`` scores sum(tanh(query + key)) instead (times a
    learnable scalar). The dot-product form runs on the fused kernel unless the scores are
    asked for."""

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(f"Attention: score_mode must be 'dot' or 'concat', got {score_mode!r}")
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight("scale", (), "ones") if self.use_scale else None
        self.concat_score_weight = (
            self.add_weight("concat_score_weight", (), "ones")
            if self.score_mode == "concat"
            else None
        )

    def _fused_query(self, q: Tensor) -> Tensor | None:
        if self.score_mode != "dot":
            return None
        return q * self.scale if self.scale is not None else q

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        if self.score_mode == "dot":
            s = q @ k.swapaxes(-1, -2)
            return s * self.scale if self.scale is not None else s
        B, Tq, D = q.shape
        t = q.reshape(B, Tq, 1, D) + k.reshape(B, 1, k.shape[1], D)
        if self.scale is not None:
            t = t * self.scale
        return F.tanh(t).sum(axis=-1) * self.concat_score_weight

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode}


class AdditiveAttention(_BaseDenseAttention):
    """Keras's additive (Bahdanau) attention: scores = sum over features of
    scale · tanh(query + key), scale a learnable vector (``use_scale``). The (batch, Tq, Tv,
    features) tensor of sums is inherent to the score, as in Keras."""

    def __init__(
        self, use_scale: bool = True, dropout: float = 0.0, seed: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)

    def build(self, input_shape: Any) -> None:
        dim = input_shape[0][-1] if isinstance(input_shape, list) else input_shape[-1]
        self.scale = (
            self.add_weight("scale", (int(dim),), "glorot_uniform") if self.use_scale else None
        )

    def _scores(self, q: Tensor, k: Tensor) -> Tensor:
        B, Tq, D = q.shape
        t = F.tanh(q.reshape(B, Tq, 1, D) + k.reshape(B, 1, k.shape[1], D))
        return t @ self.scale if self.scale is not None else t.sum(axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale}
