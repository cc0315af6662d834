"""Indexing, shape, sorting and reduction ops added for PyTorch/Keras users: one check_op row
each (float64 NumPy reference over many shapes incl. size 1 and empty, gradients, gradcheck,
PyTorch parity), then the semantics the table cannot express and bad inputs."""

from __future__ import annotations

import deepcore as dc
import deepcore.nn as nn
import deepcore.nn.functional as F
import numpy as np
import pytest
from helpers import HAS_TORCH, check_op, gradcheck, requires_torch

if HAS_TORCH:
    import torch


def _tt(fn):
    return fn if HAS_TORCH else None


I = np.array  # noqa: E741  (short index arrays in the table)

# name -> (deepcore fn, float64 reference, shapes, torch fn or None)
ROWS = {
    "take_axis": (
        lambda x: dc.take(x, I([2, 0, 2, -1]), axis=1),
        lambda x: np.take(x, [2, 0, 2, -1], axis=1),
        [(2, 3), (1, 3, 2), (0, 3)],
        None,
    ),
    "take_flat": (
        lambda x: dc.take(x, I([[0, 5], [5, 1]])),
        lambda x: np.take(x, [[0, 5], [5, 1]]),
        [(2, 3), (6,)],
        None,
    ),
    "index_select": (
        lambda x: dc.index_select(x, 0, I([1, 1, 0])),
        lambda x: x[[1, 1, 0]],
        [(2, 3), (2,), (3, 1, 2)],
        lambda x: torch.index_select(x, 0, torch.tensor([1, 1, 0])),
    ),
    "index_select_dim": (
        lambda x: x.index_select(dim=-1, index=dc.tensor(I([0, 0]))),
        lambda x: x[..., [0, 0]],
        [(2, 3), (4, 1)],
        lambda x: x.index_select(-1, torch.tensor([0, 0])),
    ),
    "take_along_axis": (
        lambda x: dc.take_along_axis(x, I([[0, 2, 2], [1, 0, 0]]), axis=1),
        lambda x: np.take_along_axis(x, I([[0, 2, 2], [1, 0, 0]]), axis=1),
        [(2, 3), (2, 4)],
        lambda x: torch.gather(x, 1, torch.tensor([[0, 2, 2], [1, 0, 0]])),
    ),
    "take_along_axis_bcast": (
        lambda x: dc.take_along_axis(x, I([[[1], [0]]]), axis=2),
        lambda x: np.take_along_axis(x, I([[[1], [0]]]), axis=2),
        [(3, 2, 4), (1, 2, 2), (3, 1, 2)],
        None,
    ),
    "take_along_axis_none": (
        lambda x: dc.take_along_axis(x, I([4, 0, 4])),
        lambda x: np.take_along_axis(x.reshape(-1), I([4, 0, 4]), axis=0),
        [(5,), (1, 5), (5, 1)],
        None,
    ),
    "masked_fill": (
        lambda x: dc.masked_fill(x, dc.tensor(I([True, False, True])), -1.5),
        lambda x: np.where(I([True, False, True]), -1.5, x),
        [(3,), (2, 3), (0, 3)],
        lambda x: x.masked_fill(torch.tensor([True, False, True]), -1.5),
    ),
    "flip": (
        lambda x: dc.flip(x, 0),
        lambda x: np.flip(x, 0),
        [(3,), (2, 3), (1, 2, 3), (0, 2)],
        lambda x: torch.flip(x, (0,)),
    ),
    "flip_all": (lambda x: x.flip(), np.flip, [(2, 3), (), (4,)], None),
    "flip_dims": (
        lambda x: x.flip(dims=(0, -1)),
        lambda x: np.flip(x, (0, -1)),
        [(2, 3), (2, 1, 3)],
        lambda x: x.flip((0, -1)),
    ),
    "roll": (
        lambda x: dc.roll(x, 2, axis=-1),
        lambda x: np.roll(x, 2, axis=-1),
        [(5,), (2, 3), (2, 1), (3, 0)],
        lambda x: torch.roll(x, 2, -1),
    ),
    "roll_flat": (lambda x: dc.roll(x, -4), lambda x: np.roll(x, -4), [(2, 3), (7,), ()], None),
    "roll_multi": (
        lambda x: x.roll(shifts=(1, -2), dims=(0, 1)),
        lambda x: np.roll(x, (1, -2), (0, 1)),
        [(3, 4), (2, 5, 1)],
        lambda x: torch.roll(x, (1, -2), (0, 1)),
    ),
    "tile": (
        lambda x: dc.tile(x, (2, 3)),
        lambda x: np.tile(x, (2, 3)),
        [(2,), (2, 3), (1, 2, 1), (), (0, 2)],
        lambda x: torch.tile(x, (2, 3)),
    ),
    "tensor_repeat": (
        lambda x: x.repeat(2, 1, 3),
        lambda x: np.tile(x, (2, 1, 3)),
        [(2, 3), (3,), (2, 1, 2)],
        lambda x: x.repeat(2, 1, 3),
    ),
    "repeat": (
        lambda x: dc.repeat(x, 2, axis=0),
        lambda x: np.repeat(x, 2, axis=0),
        [(3,), (2, 3), (1,), (0, 2)],
        lambda x: torch.repeat_interleave(x, 2, dim=0),
    ),
    "repeat_counts": (
        lambda x: dc.repeat(x, I([0, 2, 1]), axis=-1),
        lambda x: np.repeat(x, [0, 2, 1], axis=-1),
        [(3,), (2, 3)],
        lambda x: torch.repeat_interleave(x, torch.tensor([0, 2, 1]), dim=-1),
    ),
    "repeat_flat": (lambda x: dc.repeat(x, 3), lambda x: np.repeat(x, 3), [(2, 2), ()], None),
    "diag_1d": (
        lambda x: dc.diag(x, 1),
        lambda x: np.diag(x, 1),
        [(3,), (1,), (0,)],
        lambda x: torch.diag(x, 1),
    ),
    "diag_2d": (
        lambda x: dc.diag(x, -1),
        lambda x: np.diag(x, -1),
        [(3, 3), (4, 2), (2, 5), (1, 1)],
        lambda x: torch.diag(x, -1),
    ),
    "tril": (
        lambda x: dc.tril(x),
        np.tril,
        [(3, 3), (2, 4), (2, 3, 2), (0, 3), (1, 1)],
        lambda x: torch.tril(x),
    ),
    "triu_k": (
        lambda x: x.triu(diagonal=1),
        lambda x: np.triu(x, 1),
        [(3, 3), (4, 2), (2, 2, 3)],
        lambda x: torch.triu(x, 1),
    ),
    "tril_neg": (lambda x: dc.tril(x, k=-1), lambda x: np.tril(x, -1), [(3, 4)], None),
    "expand_dims": (
        lambda x: dc.expand_dims(x, (0, -1)),
        lambda x: np.expand_dims(x, (0, -1)),
        [(3,), (2, 3), ()],
        None,
    ),
    "moveaxis": (
        lambda x: dc.moveaxis(x, 0, -1),
        lambda x: np.moveaxis(x, 0, -1),
        [(2, 3, 4), (1, 2)],
        lambda x: torch.movedim(x, 0, -1),
    ),
    "pad_constant": (
        lambda x: dc.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
        lambda x: np.pad(x, ((1, 2), (0, 1)), constant_values=0.5),
        [(2, 3), (1, 1), (0, 2)],
        None,
    ),
    "pad_reflect": (
        lambda x: dc.pad(x, ((1, 2), (2, 0)), mode="reflect"),
        lambda x: np.pad(x, ((1, 2), (2, 0)), mode="reflect"),
        [(3, 3), (4, 5)],
        None,
    ),
    "pad_modes": (
        lambda x: dc.pad(dc.pad(dc.pad(x, 2, "edge"), (1, 3), "symmetric"), 1, "wrap"),
        lambda x: np.pad(np.pad(np.pad(x, 2, "edge"), (1, 3), "symmetric"), 1, "wrap"),
        [(3,), (2, 2), (1, 3)],
        None,
    ),
    "prod": (
        lambda x: dc.prod(x, axis=1),
        lambda x: np.prod(x, axis=1),
        [(2, 3), (3, 1), (2, 0), (1, 4, 2)],
        lambda x: torch.prod(x, 1),
    ),
    "prod_all": (lambda x: x.prod(), np.prod, [(2, 3), (), (4,), (0,)], None),
    "prod_axes": (
        lambda x: dc.prod(x, axis=(0, 2), keepdims=True),
        lambda x: np.prod(x, axis=(0, 2), keepdims=True),
        [(2, 3, 2), (1, 1, 1)],
        None,
    ),
    "logsumexp": (
        lambda x: dc.logsumexp(x, axis=-1),
        lambda x: np.log(np.exp(x).sum(-1)),
        [(2, 3), (5,), (1, 1), (2, 1, 3)],
        lambda x: torch.logsumexp(x, -1),
    ),
    "logsumexp_all": (
        lambda x: x.logsumexp(keepdims=True),
        lambda x: np.log(np.exp(x).sum(keepdims=True)),
        [(2, 3), ()],
        None,
    ),
    "norm": (
        lambda x: dc.norm(x),
        lambda x: np.sqrt((x * x).sum()),
        [(2, 3), (5,), (1,)],
        lambda x: torch.norm(x),
    ),
    "norm_axis": (
        lambda x: dc.norm(x, axis=1, keepdims=True),
        lambda x: np.linalg.norm(x, axis=1, keepdims=True),
        [(2, 3), (3, 1)],
        lambda x: torch.linalg.vector_norm(x, dim=1, keepdim=True),
    ),
    "norm_p": (
        lambda x: x.norm(3, dim=0),
        lambda x: (np.abs(x) ** 3).sum(0) ** (1 / 3),
        [(2, 3), (4,)],
        lambda x: x.norm(3, dim=0),
    ),
    "norm_p1": (
        lambda x: x.norm(1),
        lambda x: np.abs(x).sum(),
        [(2, 3), (4,)],
        lambda x: x.norm(1),
    ),
    "norm_matrix_1": (
        lambda x: dc.norm(x, 1),
        lambda x: np.linalg.norm(x, 1),
        [(3, 4), (2, 2)],
        lambda x: torch.linalg.matrix_norm(x, 1),
    ),
    "norm_matrix_inf": (
        lambda x: dc.norm(x, np.inf, axis=(1, 2)),
        lambda x: np.linalg.norm(x, np.inf, axis=(1, 2)),
        [(2, 3, 4)],
        lambda x: torch.linalg.matrix_norm(x, float("inf"), dim=(1, 2)),
    ),
    "norm_fro": (
        lambda x: dc.norm(x, "fro", axis=(0, 1)),
        lambda x: np.linalg.norm(x, "fro", axis=(0, 1)),
        [(3, 2)],
        None,
    ),
    "einsum_matmul": (
        lambda a, b: dc.einsum("ij,jk->ik", a, b),
        lambda a, b: a @ b,
        [((2, 3), (3, 4)), ((1, 1), (1, 5)), ((0, 2), (2, 3))],
        lambda a, b: torch.einsum("ij,jk->ik", a, b),
    ),
    "einsum_batch": (
        lambda a, b: dc.einsum("...ij,...jk", a, b),
        lambda a, b: np.einsum("...ij,...jk", a, b),
        [((2, 2, 3), (2, 3, 4)), ((2, 3), (5, 3, 1)), ((1, 2, 3), (4, 3, 2))],
        lambda a, b: torch.einsum("...ij,...jk", a, b),
    ),
    "einsum_implicit": (
        lambda a, b: dc.einsum("ba,bc", a, b),
        lambda a, b: np.einsum("ba,bc", a, b),
        [((3, 2), (3, 4))],
        lambda a, b: torch.einsum("ba,bc", a, b),
    ),
    "einsum_trace_outer": (
        lambda a, b: dc.einsum("ii,j->j", a, b),
        lambda a, b: np.einsum("ii,j->j", a, b),
        [((3, 3), (2,))],
        lambda a, b: torch.einsum("ii,j->j", a, b),
    ),
    "einsum_diag_sum": (
        lambda a: dc.einsum("iji->j", a),
        lambda a: np.einsum("iji->j", a),
        [(3, 2, 3)],
        None,
    ),
    "einsum_3ops": (
        lambda a, b, c: dc.einsum("bi,ij,bj->b", a, b, c),
        lambda a, b, c: np.einsum("bi,ij,bj->b", a, b, c),
        [((2, 3), (3, 4), (2, 4))],
        lambda a, b, c: torch.einsum("bi,ij,bj->b", a, b, c),
    ),
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_op_table(name):
    f, ref, shapes, tf = ROWS[name]
    check_op(f, ref, shapes, torch_fn=_tt(tf))


# ------------------------------------------------------------------------------ sorting
def _distinct(case, rng):
    return [rng.permutation(int(np.prod(s))).reshape(s) * 0.37 - 1.0 for s in case]


SORT_SHAPES = [(5,), (2, 3), (3, 1), (1, 4, 2), (0, 3)]


@pytest.mark.parametrize("descending", [False, True])
def test_sort(descending):
    def ref(x):
        i = np.argsort(-x if descending else x, axis=-1, kind="stable")
        return np.take_along_axis(x, i, -1), i

    def tf(x):
        v, i = torch.sort(x, dim=-1, descending=descending, stable=True)
        return v

    check_op(
        lambda x: dc.sort(x, descending=descending),
        ref,
        SORT_SHAPES,
        make_inputs=_distinct,
        grad=False,
    )
    check_op(
        lambda x: dc.sort(x, descending=descending)[0],
        lambda x: ref(x)[0],
        SORT_SHAPES,
        torch_fn=_tt(tf),
        make_inputs=_distinct,
    )


def test_sort_is_stable_both_ways_and_nan_like_torch():
    x = dc.tensor([2.0, 1.0, 2.0, np.nan, 1.0, 2.0])
    v, i = dc.sort(x)
    assert i.tolist() == [1, 4, 0, 2, 5, 3]
    v, i = x.sort(descending=True)
    assert i.tolist() == [3, 0, 2, 5, 1, 4] and np.isnan(v.numpy()[0])
    assert dc.argsort(x, descending=True).tolist() == [3, 0, 2, 5, 1, 4]
    if HAS_TORCH:
        t = torch.tensor(x.numpy())
        for d in (False, True):
            assert (
                dc.sort(x, descending=d)[1].tolist()
                == torch.sort(t, descending=d, stable=True)[1].tolist()
            )
    assert dc.ops.sort(dc.tensor([3.0, 1.0, 2.0])).tolist() == [1.0, 2.0, 3.0]  # Keras: values


@pytest.mark.parametrize("largest", [True, False])
def test_topk(largest):
    k = 2

    def ref(x):
        i = np.argsort(-x if largest else x, axis=-1, kind="stable")[..., :k]
        return np.take_along_axis(x, i, -1)

    check_op(
        lambda x: dc.topk(x, k, largest=largest)[0],
        ref,
        [(5,), (2, 3), (1, 2), (0, 4)],
        torch_fn=_tt(lambda x: torch.topk(x, k, largest=largest)[0]),
        make_inputs=_distinct,
    )
    v, i = dc.top_k(dc.tensor([[1.0, 5.0, 5.0, 3.0]]), 3)
    assert v.tolist() == [[5.0, 5.0, 3.0]] and i.tolist() == [[1, 2, 3]]
    assert dc.tensor([1.0, 2.0]).topk(0)[0].shape == (0,)
    with pytest.raises(ValueError, match="out of range"):
        dc.topk(dc.ones(3), 4)


def test_argsort_keras_and_dims():
    x = np.array([[3.0, 1.0, 2.0], [0.0, 0.0, -1.0]])
    assert dc.argsort(dc.tensor(x)).tolist() == np.argsort(x, -1, kind="stable").tolist()
    assert dc.argsort(dc.tensor(x), axis=0).tolist() == np.argsort(x, 0, kind="stable").tolist()
    assert dc.argsort(dc.tensor(x), dim=0).dtype == np.int64


# ------------------------------------------------------------------------------ chunk / unbind
def test_chunk_and_unbind():
    check_op(
        lambda x: dc.chunk(x, 3, axis=1),
        lambda x: tuple(np.split(x, [2, 4], axis=1)),
        [(2, 5)],
    )
    check_op(lambda x: x.chunk(2), lambda x: tuple(np.split(x, [2])), [(3, 2), (4,)])
    check_op(lambda x: dc.unbind(x, 1), lambda x: tuple(np.moveaxis(x, 1, 0)), [(2, 3), (1, 2, 2)])
    assert len(dc.unstack(dc.ones(4, 2))) == 4 and dc.unbind(dc.ones(0, 2)) == ()
    if HAS_TORCH:
        for n, c in ((5, 3), (6, 4), (2, 5), (1, 1)):
            got = [t.shape for t in dc.chunk(dc.ones(n), c)]
            assert got == [tuple(t.shape) for t in torch.chunk(torch.ones(n), c)]
    x = dc.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    a, b, c = x.unbind(1)
    (b * 2).sum().backward()  # unused outputs get zero gradients
    assert x.grad.tolist() == [[0, 2, 0], [0, 2, 0]]


# ------------------------------------------------------------------------------ nonzero / one_hot
def test_nonzero_both_forms():
    x = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, -1.0]])
    got = dc.nonzero(dc.tensor(x))
    assert got.dtype == np.int64 and got.tolist() == np.argwhere(x).tolist()
    tup = dc.nonzero(dc.tensor(x), as_tuple=True)
    assert [t.tolist() for t in tup] == [i.tolist() for i in np.nonzero(x)]
    assert [t.tolist() for t in dc.ops.nonzero(dc.tensor(x))] == [i.tolist() for i in np.nonzero(x)]
    assert dc.nonzero(dc.zeros(0, 3)).shape == (0, 2)
    assert dc.nonzero(dc.tensor(3.0)).shape == (1, 0)
    assert [t.tolist() for t in dc.where(dc.tensor(x) > 0)] == [[0, 1], [1, 0]]
    if HAS_TORCH:
        assert dc.tensor(x).nonzero().tolist() == torch.tensor(x).nonzero().tolist()


def test_one_hot():
    got = dc.one_hot(dc.tensor(np.array([0, 2, 1])), 3)
    assert got.dtype == np.float32 and got.tolist() == np.eye(3)[[0, 2, 1]].tolist()
    # Keras: labels outside [0, num_classes) give rows of zeros; axis places the new axis
    assert dc.one_hot(np.array([-1, 3]), 3).tolist() == [[0, 0, 0], [0, 0, 0]]
    got = dc.one_hot(np.array([[0, 1], [1, 1]]), 2, axis=0, dtype="int64")
    assert got.shape == (2, 2, 2) and got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), np.moveaxis(np.eye(2)[[[0, 1], [1, 1]]], -1, 0))
    assert dc.one_hot(np.array([1.0, 0.0]), 2).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError, match="whole numbers"):
        dc.one_hot(np.array([0.5]), 2)
    with pytest.raises(ValueError, match="num_classes must be >= 1"):
        dc.one_hot(np.array([0]), 0)


# ------------------------------------------------------------------------------ gradients
def test_index_gradients_accumulate_repeats():
    x = dc.tensor(np.arange(4.0), requires_grad=True)
    dc.take(x, np.array([1, 1, 3])).sum().backward()
    assert x.grad.tolist() == [0, 2, 0, 1]
    x = dc.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    dc.take_along_axis(x, np.array([[0, 0, 0], [2, 1, 2]]), 1).sum().backward()
    assert x.grad.tolist() == [[3, 0, 0], [0, 1, 2]]
    v = dc.tensor(2.0, requires_grad=True)
    x = dc.ones(3, requires_grad=True)
    dc.masked_fill(x, dc.tensor([True, False, True]), v).sum().backward()
    assert v.grad.item() == 2.0 and x.grad.tolist() == [0, 1, 0]


def test_prod_gradient_with_zeros():
    for vals in ([2.0, 0.0, 3.0, 4.0], [0.0, 5.0, 0.0, 1.0], [0.0]):
        x = dc.tensor(vals, dtype="float64", requires_grad=True)
        x.prod().backward()
        want = [np.prod(np.delete(vals, i)) for i in range(len(vals))]
        assert x.grad.tolist() == want
        if HAS_TORCH:
            t = torch.tensor(vals, requires_grad=True)
            t.prod().backward()
            assert t.grad.tolist() == want


def test_norm_gradient_at_zero_and_ties():
    x = dc.zeros(3, dtype="float64", requires_grad=True)
    dc.norm(x).backward()
    assert x.grad.tolist() == [0, 0, 0]  # PyTorch's subgradient
    x = dc.tensor([3.0, -3.0, 1.0], dtype="float64", requires_grad=True)
    dc.norm(x, np.inf).backward()
    assert x.grad.tolist() == [0.5, -0.5, 0]


def test_logsumexp_extremes():
    x = dc.tensor([1000.0, 1000.0], dtype="float64")
    assert dc.logsumexp(x).item() == pytest.approx(1000 + np.log(2))
    assert dc.logsumexp(dc.tensor([-np.inf, -np.inf])).item() == -np.inf
    assert dc.logsumexp(dc.zeros(0)).item() == -np.inf


def test_einsum_gradcheck_broadcast_ellipsis():
    rng = np.random.default_rng(0)
    gradcheck(lambda a, b: dc.einsum("...i,...i->...", a, b),
              [rng.standard_normal((2, 1, 3)), rng.standard_normal((4, 3))])  # fmt: skip


# ------------------------------------------------------------------------------ bad inputs
def test_index_errors_are_index_errors():
    x = dc.ones(3, 2)
    for f in (lambda: dc.take(x, [3], axis=0), lambda: dc.index_select(x, 1, dc.tensor(I([-3]))),
              lambda: dc.take_along_axis(x, I([[0, 2]]), 1), lambda: x[3]):  # fmt: skip
        with pytest.raises(IndexError, match="out of range|out of bounds"):
            f()
    with pytest.raises(TypeError, match="integers"):
        dc.take(x, dc.tensor([0.0]))
    with pytest.raises(TypeError, match="integers"):
        dc.take(x, [True])


def test_shape_and_index_bad_inputs():
    x = dc.ones(2, 3)
    cases = [
        (ValueError, "axis 2 is out of range", lambda: dc.flip(x, 2)),
        (ValueError, "does not broadcast", lambda: dc.masked_fill(x, dc.ones(3, 3) > 0, 1.0)),
        (TypeError, "mask must be a bool", lambda: dc.masked_fill(x, dc.ones(3), 1.0)),
        (TypeError, "value must be a number", lambda: dc.masked_fill(x, x > 0, "a")),
        (ValueError, "must have x's 2 dimensions", lambda: dc.take_along_axis(x, I([0]), 1)),
        (ValueError, "do not broadcast", lambda: dc.take_along_axis(x, I([[0], [0], [0]]), 1)),
        (ValueError, "0-D or 1-D", lambda: dc.index_select(x, 0, I([[0]]))),
        (ValueError, "at least 2 dimensions", lambda: dc.tril(dc.ones(3))),
        (TypeError, "k must be an int", lambda: dc.triu(x, 0.5)),
        (ValueError, "1-D or 2-D", lambda: dc.diag(dc.ones(2, 2, 2))),
        (ValueError, "chunks must be a positive", lambda: dc.chunk(x, 0)),
        (ValueError, "non-negative", lambda: dc.tile(x, (-1, 1))),
        (ValueError, "3 repeats for an axis of size 2", lambda: dc.repeat(x, I([1, 2, 3]), 0)),
        (ValueError, "need at least one per dimension", lambda: x.repeat(2)),
        (ValueError, "mode must be one of", lambda: dc.pad(x, 1, mode="mean")),
        (ValueError, "non-negative", lambda: dc.pad(x, -1)),
        (ValueError, "does not fit", lambda: dc.pad(x, ((1, 1),) * 3)),
        (ValueError, "must be alike", lambda: dc.roll(x, (1, 2), 0)),
        (ValueError, "repeated axis", lambda: dc.expand_dims(x, (0, 0))),
        (NotImplementedError, "singular values", lambda: dc.norm(x, 2, axis=(0, 1))),
        (ValueError, "negative ord", lambda: dc.norm(x, -2)),
        (ValueError, "has sizes 3 and 2", lambda: dc.einsum("ij,ij->i", x, dc.ones(2, 2))),
        (ValueError, "do not fit operand", lambda: dc.einsum("ijk", x)),
        (TypeError, "float32 and float64", lambda: dc.einsum("i", dc.tensor(I([1])))),
        (TypeError, "k must be an int", lambda: dc.topk(x, 1.0)),
    ]
    for exc, msg, f in cases:
        with pytest.raises(exc, match=msg):
            f()


@requires_torch
def test_advanced_index_placement_documented_difference():
    # [Note: advanced index placement]: NumPy's rule, which PyTorch follows except for an
    # int next to an array index
    x = np.arange(24.0).reshape(2, 3, 4)
    assert dc.tensor(x)[:, [0, 1], [2, 3]].shape == x[:, [0, 1], [2, 3]].shape == (2, 2)
    assert dc.tensor(x)[[0, 1], :, [2, 3]].shape == (2, 3)
    assert dc.tensor(x)[0, :, [1, 2]].shape == (2, 3)
    assert tuple(torch.tensor(x)[0, :, [1, 2]].shape) == (3, 2)
    assert dc.tensor(x)[0][:, [1, 2]].shape == (3, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x[5],
        lambda x: dc.take(x, [20]),
        lambda x: dc.index_select(x, 0, [3]),
        lambda x: dc.take_along_axis(x, np.array([[9]]), 1),
        lambda x: dc.gather(x, 1, np.array([[9]])),
        lambda x: dc.scatter_add(x, 1, np.array([[-1]]), x),
        lambda x: F.cross_entropy(x, np.array([0, 1, 7])),
        lambda x: F.cross_entropy(x, np.array([0, -1, 2])),
        lambda x: F.nll_loss(x, np.array([0, 1, 4])),
        lambda x: F.nll_loss(x, np.array([0, 1, 5]), ignore_index=-100),
        lambda x: nn.Embedding(3, 2)(np.array([[3]])),
        lambda x: F.max_unpool2d(dc.ones((1, 1, 2, 2)), np.full((1, 1, 2, 2), 16), 2),
    ],
)
def test_index_values_out_of_range_are_index_errors(call):
    """[Note: index errors]: every index value outside its range is an IndexError (what
    PyTorch users catch), whatever op reads it: indexing, gather / scatter, class labels,
    Embedding and max_unpool indices."""
    x = dc.tensor(np.ones((3, 4), np.float32))
    with pytest.raises(IndexError, match="out of|outside"):
        call(x)
