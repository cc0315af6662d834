"""``RNN(cell)`` with a custom cell whose inputs, states and outputs are nested structures
(keras.io's "Working with RNNs" guide, its ``NestedCell``), against a NumPy reference; see
[Note: nested sequences] in nn/layers/recurrent.py."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import numpy as np
import pytest
from deepcore.testing import gradcheck


class NestedCell(keras.layers.Layer):
    """The guide's cell, as written there (state_size set before super().__init__)."""

    def __init__(self, unit_1, unit_2, unit_3, **kwargs):
        self.unit_1 = unit_1
        self.unit_2 = unit_2
        self.unit_3 = unit_3
        self.state_size = [(unit_1,), (unit_2, unit_3)]
        self.output_size = [(unit_1,), (unit_2, unit_3)]
        super().__init__(**kwargs)

    def build(self, input_shapes):
        i1 = input_shapes[0][1]
        i2, i3 = input_shapes[1][1], input_shapes[1][2]
        self.kernel_1 = self.add_weight(
            shape=(i1, self.unit_1), initializer="uniform", name="kernel_1"
        )
        self.kernel_2_3 = self.add_weight(
            shape=(i2, i3, self.unit_2, self.unit_3), initializer="uniform", name="kernel_2_3"
        )

    def call(self, inputs, states):
        input_1, input_2 = keras.tree.flatten(inputs)
        s1, s2 = states
        output_1 = keras.ops.matmul(input_1, self.kernel_1)
        output_2_3 = keras.ops.einsum("bij,ijkl->bkl", input_2, self.kernel_2_3)
        return (output_1, output_2_3), (s1 + output_1, s2 + output_2_3)

    def get_config(self):
        return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}


def _data(B=3, T=4, i1=5, i2=2, i3=3, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((B, T, i1)).astype(np.float32),
        rng.standard_normal((B, T, i2, i3)).astype(np.float32),
    )


def _reference(x1, x2, k1, k23, mask=None):
    """Per-step outputs and the final states of the guide's cell, float64."""
    B, T = x1.shape[:2]
    s1 = np.zeros((B, k1.shape[1]))
    s2 = np.zeros((B, *k23.shape[2:]))
    o1s, o2s = [], []
    p1, p2 = np.zeros_like(s1), np.zeros_like(s2)
    for t in range(T):
        o1 = x1[:, t].astype(np.float64) @ k1
        o2 = np.einsum("bij,ijkl->bkl", x2[:, t].astype(np.float64), k23)
        keep = np.ones(B, bool) if mask is None else mask[:, t]
        s1 = np.where(keep[:, None], s1 + o1, s1)
        s2 = np.where(keep[:, None, None], s2 + o2, s2)
        p1 = np.where(keep[:, None], o1, p1)
        p2 = np.where(keep[:, None, None], o2, p2)
        o1s.append(p1)
        o2s.append(p2)
    return np.stack(o1s, 1), np.stack(o2s, 1), s1, s2


@pytest.mark.parametrize("T", [1, 4])
def test_nested_cell_matches_the_reference(T):
    x1, x2 = _data(T=T)
    layer = keras.layers.RNN(NestedCell(4, 2, 3), return_sequences=True, return_state=True)
    o1, o2, s1, s2 = layer((dc.tensor(x1), dc.tensor(x2)))
    k1 = layer.cell.kernel_1.detach().numpy().astype(np.float64)
    k23 = layer.cell.kernel_2_3.detach().numpy().astype(np.float64)
    r1, r2, rs1, rs2 = _reference(x1, x2, k1, k23)
    assert o1.shape == (3, T, 4) and o2.shape == (3, T, 2, 3)
    for got, want in ((o1, r1), (o2, r2), (s1, rs1), (s2, rs2)):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_nested_cell_masked_steps_keep_states_and_outputs():
    x1, x2 = _data(T=5)
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    layer = keras.layers.RNN(NestedCell(4, 2, 3), return_sequences=True, return_state=True)
    o1, o2, s1, s2 = layer((dc.tensor(x1), dc.tensor(x2)), mask=dc.tensor(mask))
    k1 = layer.cell.kernel_1.detach().numpy().astype(np.float64)
    k23 = layer.cell.kernel_2_3.detach().numpy().astype(np.float64)
    for got, want in zip((o1, o2, s1, s2), _reference(x1, x2, k1, k23, mask)):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-5)


def test_nested_cell_gradients_match_finite_differences():
    x1, x2 = _data(B=2, T=3, i1=3, i2=2, i3=2)
    layer = keras.layers.RNN(NestedCell(2, 2, 2), dtype="float64")
    layer((dc.tensor(x1.astype(np.float64)), dc.tensor(x2.astype(np.float64))))  # build
    k1, k23 = layer.cell.kernel_1, layer.cell.kernel_2_3

    def f(a, b, w1, w23):
        k1.data[...] = w1.data
        k23.data[...] = w23.data
        o1, o2 = layer((a, b))
        return (o1 * o1).sum() + (o2 * dc.tensor(np.arange(4.0).reshape(1, 2, 2))).sum()

    gradcheck(
        lambda a, b, w1, w23: f(a, b, w1, w23),
        [x1.astype(np.float64), x2.astype(np.float64), k1.detach().numpy(), k23.detach().numpy()],
        check=[True, True, False, False],
    )


def test_the_guides_functional_model_trains():
    dc.manual_seed(0)
    cell = NestedCell(10, 4, 5)
    rnn = keras.layers.RNN(cell)
    input_1 = keras.Input((None, 8))
    input_2 = keras.Input((None, 6, 3))
    outputs = rnn((input_1, input_2))
    model = keras.models.Model([input_1, input_2], outputs)
    assert [tuple(o.shape) for o in model.outputs] == [(None, 10), (None, 4, 5)]
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(1)
    xs = [rng.random((64, 7, 8)), rng.random((64, 7, 6, 3))]
    ys = [rng.random((64, 10)), rng.random((64, 4, 5))]
    hist = model.fit(xs, ys, batch_size=16, epochs=3, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_initial_states_as_a_list_input_are_still_states():
    """[x, h] with h of the state's shape is Keras 2's initial-state form, not two inputs."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    h0 = np.ones((2, 5), np.float32)
    layer = keras.layers.SimpleRNN(5, return_state=True)
    a = layer([dc.tensor(x), dc.tensor(h0)])
    b = layer(dc.tensor(x), initial_state=[dc.tensor(h0)])
    np.testing.assert_array_equal(a[1].detach().numpy(), b[1].detach().numpy())


def test_a_builtin_cell_refuses_nested_sequences():
    x1, x2 = _data()
    layer = keras.layers.RNN(keras.layers.LSTMCell(3))
    with pytest.raises((ValueError, TypeError)):
        layer((dc.tensor(x1), dc.tensor(x1)))
