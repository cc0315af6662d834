"""Position encodings and Transformer blocks with Keras / keras-hub names and arguments:
PositionalEncoding (sinusoidal), PositionEmbedding (learned), TransformerEncoder and
TransformerDecoder (post- or pre-norm residual blocks over MultiHeadAttention, attention.py).
Masks follow [Note: attention masks in layers] in attention.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._checks import positive_int, unit_rate
from ...tensor import Tensor
from .. import initializers
from ..input_spec import _as_tensor
from ..module import Module
from .activation import serialize_activation
from .attention import (
    MultiHeadAttention,
    _and,
    _bool_mask,
    _check_sequence,
    _QueryMaskPasses,
)
from .core import Dense, Dropout
from .normalization import LayerNormalization

__all__ = [
    "PositionalEncoding",
    "PositionEmbedding",
    "TransformerEncoder",
    "TransformerDecoder",
]


# ---------------------------------------------------------------------- positions
class PositionalEncoding(Module):
    """Adds the Transformer paper's sinusoids to (batch, length, features) inputs:
    PE(pos, 2i) = sin(pos / max_wavelength^(2i/d)), PE(pos, 2i+1) = cos(pos /
    max_wavelength^(2i/d)), d the features. No weights; the mask passes on."""

    supports_masking = True

    def __init__(self, max_wavelength: float = 10000.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(max_wavelength, bool) or not max_wavelength > 0:
            raise ValueError(
                f"PositionalEncoding: max_wavelength must be positive, got {max_wavelength!r}"
            )
        self.max_wavelength = float(max_wavelength)
        self._cache: dict = {}

    def encoding(self, length: int, dim: int, dtype: Any = np.float32) -> np.ndarray:
        """The (length, dim) table."""
        key = (length, dim, np.dtype(dtype))
        if key not in self._cache:
            pos = np.arange(length, dtype=np.float64)[:, None]
            i = np.arange(dim)
            angle = pos / self.max_wavelength ** ((2 * (i // 2)) / dim)
            pe = np.where(i % 2 == 0, np.sin(angle), np.cos(angle)).astype(dtype)
            pe.setflags(write=False)
            self._cache[key] = pe
        return self._cache[key]

    def call(self, x: Tensor) -> Tensor:
        if x.ndim < 2:
            raise ValueError(
                f"PositionalEncoding '{self.name}' needs (batch, length, features) inputs, got "
                f"shape {tuple(x.shape)}"
            )
        return x + Tensor(self.encoding(x.shape[-2], x.shape[-1], x.dtype))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_wavelength": self.max_wavelength}


class PositionEmbedding(Module):
    """keras-hub's learned position embedding: a (sequence_length, features) weight whose
    first ``length`` rows (from ``start_index``) are returned broadcast to the input's shape;
    add it to the token embeddings yourself (``x = tokens + PositionEmbedding(L)(tokens)``)."""

    def __init__(
        self, sequence_length: int, initializer: Any = "glorot_uniform", **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.sequence_length = positive_int("PositionEmbedding: sequence_length", sequence_length)
        self.initializer = initializers.get(initializer)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"PositionEmbedding '{self.name}' needs (batch, length, features) inputs with "
                f"known features, got {tuple(input_shape)}"
            )
        self.position_embeddings = self.add_weight(
            "embeddings", (self.sequence_length, int(input_shape[-1])), self.initializer
        )

    def call(self, x: Tensor, start_index: int = 0) -> Tensor:
        T = x.shape[-2]
        if not (0 <= start_index and start_index + T <= self.sequence_length):
            raise ValueError(
                f"PositionEmbedding '{self.name}': positions [{start_index}, {start_index + T}) "
                f"exceed sequence_length {self.sequence_length}"
            )
        return self.position_embeddings[start_index : start_index + T].expand(*x.shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "sequence_length": self.sequence_length,
            "initializer": initializers.serialize(self.initializer),
        }


# ---------------------------------------------------------------------- Transformer blocks
class _TransformerBlock(_QueryMaskPasses):
    """What TransformerEncoder and TransformerDecoder share: arguments, the position-wise
    feed-forward network and the residual + layer-norm wrapping of each sub-layer."""

    def __init__(
        self,
        intermediate_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        activation: Any = "relu",
        layer_norm_epsilon: float = 1e-5,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        normalize_first: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        cls = type(self).__name__
        self.intermediate_dim = positive_int(f"{cls}: intermediate_dim", intermediate_dim)
        self.num_heads = positive_int(f"{cls}: num_heads", num_heads)
        self.dropout = unit_rate(f"{cls}: dropout", dropout)
        self.activation = activation
        if not layer_norm_epsilon > 0:
            raise ValueError(
                f"{cls}: layer_norm_epsilon must be positive, got {layer_norm_epsilon!r}"
            )
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.normalize_first = bool(normalize_first)

    def _hidden(self, input_shape: tuple) -> int:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} '{self.name}' needs (batch, length, features) inputs, "
                f"got {tuple(input_shape)}"
            )
        hidden = int(input_shape[-1])
        if hidden < self.num_heads:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': {hidden} features cannot be split into "
                f"{self.num_heads} heads"
            )
        return hidden

    def _kw(self) -> dict:
        return dict(
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
        )

    def _attention(self, hidden: int, shape: tuple, value_shape: tuple) -> MultiHeadAttention:
        mha = MultiHeadAttention(
            self.num_heads, hidden // self.num_heads, dropout=self.dropout, **self._kw()
        )
        mha.build([shape, value_shape])
        return mha

    def _norm(self, shape: tuple) -> LayerNormalization:
        ln = LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy)
        ln.build(shape)
        return ln

    def _build_ffn(self, hidden: int, shape: tuple) -> None:
        self.feedforward_intermediate_dense = Dense(
            self.intermediate_dim, activation=self.activation, **self._kw()
        )
        self.feedforward_intermediate_dense.build(shape)
        self.feedforward_output_dense = Dense(hidden, **self._kw())
        self.feedforward_output_dense.build((*shape[:-1], self.intermediate_dim))
        self.feedforward_layer_norm = self._norm(shape)
        self.feedforward_dropout = Dropout(self.dropout, dtype=self.dtype_policy)

    def _residual(
        self, x: Tensor, norm: LayerNormalization, fn: Any, drop: Dropout, training
    ) -> Tensor:
        """x + dropout(fn(x)) with the layer norm before fn (pre-norm) or after the sum
        (post-norm, the paper's)."""
        y = fn(norm(x) if self.normalize_first else x)
        y = x + drop(y, training=training)
        return y if self.normalize_first else norm(y)

    def _ffn(self, x: Tensor) -> Tensor:
        return self.feedforward_output_dense(self.feedforward_intermediate_dense(x))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)

    def get_config(self) -> dict:
        act = self.activation
        return {
            **super().get_config(),
            "intermediate_dim": self.intermediate_dim,
            "num_heads": self.num_heads,
            "dropout": self.dropout,
            "activation": act if isinstance(act, str) or act is None else serialize_activation(act),
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "normalize_first": self.normalize_first,
        }


def _key_mask(padding_mask: Any, attention_mask: Any) -> np.ndarray | None:
    """keras-hub's merge of a (B, S) padding mask (keys only) with a (B, T, S) attention
    mask, as a (B|1, T|1, S) boolean."""
    m = _bool_mask(padding_mask)
    m = None if m is None else m[:, None, :]
    return _and(m, _bool_mask(attention_mask))


class TransformerEncoder(_TransformerBlock):
    """keras-hub's Transformer encoder layer on (batch, length, hidden): multi-head
    self-attention (hidden // num_heads features per head) then the position-wise FFN
    activation(x W1 + b1) W2 + b2, each wrapped in dropout, a residual and a layer norm (after
    the sum as in the paper; before the sub-layer with ``normalize_first``).

    ``call(inputs, padding_mask=None, attention_mask=None)``: padding_mask (B, L) marks real
    tokens (the keys attended to); without it the Keras mask of the inputs (e.g. from
    ``Embedding(mask_zero=True)``) is used, and passes on."""

    def build(self, input_shape: tuple) -> None:
        hidden = self._hidden(input_shape)
        shape = tuple(input_shape)
        self.self_attention = self._attention(hidden, shape, shape)
        self.self_attention_layer_norm = self._norm(shape)
        self.self_attention_dropout = Dropout(self.dropout, dtype=self.dtype_policy)
        self._build_ffn(hidden, shape)

    def call(
        self,
        inputs: Tensor,
        padding_mask: Any = None,
        attention_mask: Any = None,
        training: bool | None = None,
        mask: Any = None,
    ) -> Tensor:
        _check_sequence(self, "inputs", inputs, self.self_attention._query_features)
        keys = _key_mask(mask if padding_mask is None else padding_mask, attention_mask)

        def attend(x: Tensor) -> Tensor:
            return self.self_attention(x, x, attention_mask=keys, training=training)

        x = self._residual(
            inputs, self.self_attention_layer_norm, attend, self.self_attention_dropout, training
        )
        return self._residual(
            x, self.feedforward_layer_norm, self._ffn, self.feedforward_dropout, training
        )


class TransformerDecoder(_TransformerBlock):
    """keras-hub's Transformer decoder layer: causal multi-head self-attention, then (when an
    encoder sequence is given) cross-attention over the encoder output, then the FFN; each
    wrapped like TransformerEncoder's sub-layers.

    ``call(decoder_sequence, encoder_sequence=None, decoder_padding_mask=None,
    decoder_attention_mask=None, encoder_padding_mask=None, encoder_attention_mask=None,
    use_causal_mask=True)``. The decoder's Keras mask stands in for decoder_padding_mask. The
    cross-attention weights are created with the first encoder sequence (or by
    ``build(decoder_shape, encoder_shape)``)."""

    _masks_per_argument = True  # functional models hand over [decoder, encoder] masks

    def build(self, input_shape: Any) -> None:
        """``build(decoder_shape)`` or ``build([decoder_shape, encoder_shape])``."""
        decoder_sequence_shape, encoder_sequence_shape = input_shape, None
        if isinstance(input_shape, list):
            decoder_sequence_shape, encoder_sequence_shape = (list(input_shape) + [None])[:2]
        hidden = self._hidden(decoder_sequence_shape)
        shape = tuple(decoder_sequence_shape)
        self.self_attention = self._attention(hidden, shape, shape)
        self.self_attention_layer_norm = self._norm(shape)
        self.self_attention_dropout = Dropout(self.dropout, dtype=self.dtype_policy)
        if encoder_sequence_shape is not None:
            self._build_cross(hidden, shape, tuple(encoder_sequence_shape))
        self._build_ffn(hidden, shape)

    def _build_cross(self, hidden: int, shape: tuple, encoder_shape: tuple) -> None:
        self.cross_attention = self._attention(hidden, shape, encoder_shape)
        self.cross_attention_layer_norm = self._norm(shape)
        self.cross_attention_dropout = Dropout(self.dropout, dtype=self.dtype_policy)

    def call(
        self,
        decoder_sequence: Tensor,
        encoder_sequence: Tensor | None = None,
        decoder_padding_mask: Any = None,
        decoder_attention_mask: Any = None,
        encoder_padding_mask: Any = None,
        encoder_attention_mask: Any = None,
        training: bool | None = None,
        use_causal_mask: bool = True,
        mask: Any = None,
    ) -> Tensor:
        hidden = self.self_attention._query_features
        _check_sequence(self, "decoder_sequence", decoder_sequence, hidden)
        if isinstance(mask, (list, tuple)):  # masks of [decoder_sequence, encoder_sequence]
            mask, enc_mask = (list(mask) + [None])[:2]
            if encoder_padding_mask is None:
                encoder_padding_mask = enc_mask
        self_keys = _key_mask(
            mask if decoder_padding_mask is None else decoder_padding_mask, decoder_attention_mask
        )

        def self_attend(x: Tensor) -> Tensor:
            return self.self_attention(
                x, x, attention_mask=self_keys, training=training, use_causal_mask=use_causal_mask
            )

        x = self._residual(
            decoder_sequence,
            self.self_attention_layer_norm,
            self_attend,
            self.self_attention_dropout,
            training,
        )
        if encoder_sequence is not None:
            encoder_sequence = _as_tensor(encoder_sequence, self._np_dtype)
            _check_sequence(self, "encoder_sequence", encoder_sequence, hidden)
            if not hasattr(self, "cross_attention"):
                self._build_cross(hidden, tuple(x.shape), tuple(encoder_sequence.shape))
            cross_keys = _key_mask(encoder_padding_mask, encoder_attention_mask)

            def cross_attend(y: Tensor) -> Tensor:
                return self.cross_attention(
                    y, encoder_sequence, attention_mask=cross_keys, training=training
                )

            x = self._residual(
                x, self.cross_attention_layer_norm, cross_attend, self.cross_attention_dropout,
                training,
            )  # fmt: skip
        return self._residual(
            x, self.feedforward_layer_norm, self._ffn, self.feedforward_dropout, training
        )
