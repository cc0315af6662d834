"""Every name of Keras 3's ``keras.ops`` (written down from keras.io/api/ops: NumPy, NN,
linear algebra, core and math ops) exists in ``deepcore.ops``, except the ones listed as not
done, with the reason; a name that goes missing, or a new Keras name not sorted into one of
the lists, fails here."""

from __future__ import annotations

import deepcore.keras as keras
from deepcore import ops

NUMPY_OPS = """abs absolute add all amax amin any append arange arccos arccosh arcsin arcsinh
arctan arctan2 arctanh argmax argmin argsort array average bitwise_and bitwise_invert
bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift bitwise_xor broadcast_to ceil
clip concatenate copy cos cosh count_nonzero cumprod cumsum diag diagonal diff divide
divide_no_nan dot einsum empty equal exp expand_dims expm1 eye flip floor floor_divide full
full_like greater greater_equal hstack identity isclose isfinite isin isinf isnan left_shift
less less_equal linspace log log10 log1p log2 logaddexp logical_and logical_not logical_or
logical_xor logspace matmul max maximum mean median meshgrid min minimum mod moveaxis multiply
nan_to_num ndim negative nonzero not_equal ones ones_like outer pad power prod quantile ravel
reciprocal repeat reshape right_shift roll round sign signbit sin sinh size sort split sqrt
square squeeze stack std subtract sum swapaxes take take_along_axis tan tanh tensordot tile
trace transpose tri tril triu true_divide trunc unravel_index var vstack where zeros
zeros_like""".split()

NN_OPS = """average_pool batch_normalization binary_crossentropy categorical_crossentropy celu
conv depthwise_conv dot_product_attention elu gelu glu hard_shrink hard_sigmoid hard_silu
hard_swish hard_tanh layer_normalization leaky_relu log_sigmoid log_softmax max_pool moments
multi_hot normalize one_hot psnr relu relu6 rms_normalization selu separable_conv sigmoid silu
soft_shrink softmax softplus softsign sparse_categorical_crossentropy sparse_plus
sparse_sigmoid squareplus swish tanh_shrink threshold""".split()

LINALG_OPS = """cholesky det eigh inv logdet lstsq lu_factor norm qr slogdet solve
solve_triangular svd""".split()

CORE_AND_MATH_OPS = """cast convert_to_numpy convert_to_tensor erf erfinv in_top_k is_tensor
logsumexp rsqrt segment_max segment_sum shape slice slice_update stop_gradient top_k unstack
dtype""".split()

# Keras names added for issue 13's list of missing ones: the FFTs (ops/_fft.py), the control
# flow (ops/_control.py), Keras's scatter family and casts (ops/_keras.py), windows and
# NumPy extras
FFT_OPS = "fft fft2 ifft2 rfft irfft stft istft extract_sequences".split()
CONTROL_OPS = """cond switch while_loop fori_loop scan associative_scan map vectorized_map
custom_gradient""".split()
MORE_OPS = """scatter scatter_update get_item saturate_cast argpartition array_split bartlett
bincount blackman correlate cross diagflat digitize histogram hamming hanning kaiser
searchsorted select vdot ctc_loss ctc_decode conv_transpose""".split()

# Keras names deepcore.ops does not have yet, and why
NOT_DONE = {
    # complex numbers: deepcore has no complex dtype (the FFTs take Keras's (real, imag) pairs)
    **dict.fromkeys(
        "angle conj conjugate imag real view_as_complex view_as_real eig".split(),
        "no complex dtype",
    ),
    # deepcore has no vectorising transform (vmap): its vectorized_map runs the function once
    # per slice, so vectorize over it would call a Python function per element, and calling
    # it once on broadcast tensors is wrong for any function that is not element-wise (a
    # "(n)->()" signature with ops.sum), so it is not provided
    "vectorize": "no vmap: would call a Python function per element",
}

# Keras names deepcore.ops has with another meaning: none since ops.scatter became Keras's
# (deepcore.scatter and Tensor.scatter stay PyTorch's: ops/_keras.py KERAS_ONLY)
MEANING_DIFFERS: dict = {}

KERAS_OPS = NUMPY_OPS + NN_OPS + LINALG_OPS + CORE_AND_MATH_OPS + FFT_OPS + CONTROL_OPS + MORE_OPS


def test_every_keras_ops_name_exists():
    missing = sorted(n for n in KERAS_OPS if not callable(getattr(ops, n, None)))
    assert missing == []


def test_not_done_names_are_not_claimed():
    assert not set(NOT_DONE) & set(KERAS_OPS)
    assert not set(MEANING_DIFFERS) & (set(KERAS_OPS) | set(NOT_DONE))
    # a name listed as not done that now exists belongs in the lists above
    done = sorted(n for n in NOT_DONE if callable(getattr(ops, n, None)))
    assert done == []


def test_keras_namespace_is_the_same_module():
    assert keras.ops is ops
    for name in ("relu", "inv", "quantile", "conv", "segment_sum"):
        assert getattr(keras.ops, name) is getattr(ops, name)
