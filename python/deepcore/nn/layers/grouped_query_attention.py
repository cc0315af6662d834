"""Keras's GroupQueryAttention (grouped-query attention, Ainslie et al. 2023) over the
multi-head machinery of attention.py: Keras's EinsumDense projections, the key/value heads
repeated to the query heads, the fused attention kernel."""

from __future__ import annotations

from typing import Any

from ..._checks import positive_int, unit_rate
from ...ops._rearrange import repeat as ops_repeat
from ...tensor import Tensor
from ..serialization import _registry as _layer_registry
from .attention import _HeadsAttention
from .core import kernel_and_bias_config, set_kernel_args
from .einsum_dense import EinsumDense

__all__ = ["GroupQueryAttention", "GroupedQueryAttention"]


class GroupQueryAttention(_HeadsAttention):
    """Keras's GroupQueryAttention (grouped-query attention, Ainslie et al. 2023) on (batch,
    length, features) sequences: ``num_query_heads`` query heads share ``num_key_value_heads``
    key/value heads, query head u reading key/value head u // (num_query_heads //
    num_key_value_heads); one key/value head is multi-query attention, as many as the query
    heads is multi-head attention.

    ``gqa(query, value, key=None, query_mask=None, value_mask=None, key_mask=None,
    attention_mask=None, return_attention_scores=False, training=None,
    use_causal_mask=False)``: the same call and masks as MultiHeadAttention ([Note: attention
    masks in layers]), scores scaled by 1/sqrt(head_dim), the output projected back to the
    query's features. Weights are Keras's, four EinsumDense layers: ``query_dense`` kernel
    (features, num_query_heads, head_dim), ``key_dense`` / ``value_dense`` (features,
    num_key_value_heads, head_dim), ``output_dense`` (num_query_heads, head_dim, features),
    biases over the heads and head features (the output's over its features). The key/value
    heads are repeated to the query heads (one copy each) and attended by the fused kernel.
    """

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        flash_attention: bool | None = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        name = "GroupQueryAttention"
        self.head_dim = positive_int(f"{name}: head_dim", head_dim)
        self.num_query_heads = positive_int(f"{name}: num_query_heads", num_query_heads)
        self.num_key_value_heads = positive_int(f"{name}: num_key_value_heads", num_key_value_heads)
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(
                f"{name}: num_query_heads ({self.num_query_heads}) must be divisible by "
                f"num_key_value_heads ({self.num_key_value_heads})"
            )
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self.dropout = unit_rate(f"{name}: dropout", dropout)
        # the fused kernel is used whatever this says (it is deepcore's only path)
        self.flash_attention = flash_attention
        set_kernel_args(
            self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
            bias_regularizer,
        )  # fmt: skip
        self.seed = seed

    def _einsum_dense(self, equation: str, out: tuple, bias: str, in_shape: tuple) -> EinsumDense:
        d = EinsumDense(
            equation,
            output_shape=out,
            bias_axes=bias if self.use_bias else None,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
        )
        d.build(in_shape)
        return d

    def build(self, input_shape: Any) -> None:
        """``build(query_shape)`` creates the query and output projections, and the key and
        value ones on the first call; ``build([query_shape, value_shape(, key_shape)])`` all."""
        query_shape, value_shape, key_shape = input_shape, None, None
        if isinstance(input_shape, list):
            query_shape, value_shape, key_shape = (list(input_shape) + [None, None])[:3]
        if len(query_shape) != 3 or query_shape[-1] is None:
            raise ValueError(
                f"GroupQueryAttention '{self.name}': query must be (batch, length, features) "
                f"with known features, got {tuple(query_shape)}"
            )
        self._query_features = m = int(query_shape[-1])
        U, h = self.num_query_heads, self.head_dim
        self.query_dense = self._einsum_dense("bqm,muh->bquh", (None, U, h), "uh", (None, None, m))
        self.output_dense = self._einsum_dense("bquh,uhm->bqm", (None, m), "m", (None, None, U, h))
        if value_shape is not None:
            self._build_kv(value_shape, key_shape or value_shape)

    def _build_kv(self, value_shape: tuple, key_shape: tuple) -> None:
        V, h = self.num_key_value_heads, self.head_dim
        eq, out = "bkm,mvh->bkvh", (None, V, h)
        self.key_dense = self._einsum_dense(eq, out, "vh", (None, None, int(key_shape[-1])))
        self.value_dense = self._einsum_dense(eq, out, "vh", (None, None, int(value_shape[-1])))

    def _heads(self, dense: EinsumDense, x: Tensor) -> Tensor:
        """(B, L, features) -> (B, query heads, L, head_dim), key/value heads repeated."""
        y = dense(x)
        if y.shape[2] != self.num_query_heads:
            y = ops_repeat(y, self.num_repeats, axis=2)
        return y.transpose(0, 2, 1, 3)

    def _project(self, query: Tensor, key: Tensor, value: Tensor) -> tuple:
        return (
            self._heads(self.query_dense, query),
            self._heads(self.key_dense, key),
            self._heads(self.value_dense, value),
        )

    def _merge(self, o: Tensor) -> Tensor:
        return self.output_dense(o)  # (B, T, heads, head_dim) -> features by the einsum

    def compute_output_shape(self, query_shape: Any, value_shape: Any = None) -> tuple:
        if isinstance(query_shape, list):
            query_shape = query_shape[0]
        return tuple(query_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "head_dim": self.head_dim,
            "num_query_heads": self.num_query_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "dropout": self.dropout,
            "flash_attention": self.flash_attention,
            **kernel_and_bias_config(self),
            "seed": self.seed,
        }


#: Keras's class name (``keras.layers.GroupQueryAttention`` is exported under both); saved
#: Keras configs name it so
GroupedQueryAttention = GroupQueryAttention
_layer_registry["GroupedQueryAttention"] = GroupQueryAttention
