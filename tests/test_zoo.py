"""deepcore.models.zoo: published parameter counts and a forward pass of each model.

Parameter counts are checked with count_params() against the papers' / torchvision's numbers.
Where a model's count depends on its input size only through the first fully connected layer
(VGG, AlexNet), the full 224/227 configuration is built once for the headline model (VGG-16,
AlexNet) and the other configurations are built at 32×32 and checked with the exact
correction (flatten size × 4096), so the suite never holds several 550 MB models.
"""

from __future__ import annotations

import gc

import deepcore as dc
import numpy as np
import pytest
from deepcore.models import zoo


def trainable_count(model) -> int:
    return int(sum(int(np.prod(p.shape)) for p in model.parameters()))


def forward(model, shape, batch=2, seed=0):
    x = np.random.default_rng(seed).random((batch, *shape), dtype=np.float32)
    with dc.no_grad():
        out = model(dc.tensor(x), training=False)
    return out if isinstance(out, (list, tuple)) else [out]


def check_softmax(out, batch, classes):
    y = np.asarray(out.numpy() if hasattr(out, "numpy") else out)
    assert y.shape == (batch, classes)
    assert np.all(np.isfinite(y)) and np.all(y >= 0)
    np.testing.assert_allclose(y.sum(1), 1.0, rtol=1e-4)


@pytest.fixture(autouse=True)
def _free_memory():
    yield
    gc.collect()  # the big models should not pile up between tests


def test_seed_convnet_counts(capsys):
    model = zoo.seed_convnet()
    assert model.count_params() == 93_322
    assert sum(layer.count_params() for layer in model.layers[:5]) == 55_744
    model.summary()
    assert "93,322" in capsys.readouterr().out
    check_softmax(forward(model, (28, 28, 1))[0], 2, 10)


@pytest.mark.parametrize("activation,pooling", [("tanh", "average"), ("relu", "max")])
def test_lenet5(activation, pooling):
    model = zoo.lenet5(activation=activation, pooling=pooling)
    # C1 156 + C3 2,416 + C5 48,120 + F6 10,164 + output 850
    assert model.count_params() == 61_706
    check_softmax(forward(model, (28, 28, 1))[0], 2, 10)


def test_alexnet_paper_count():
    model = zoo.alexnet()  # 227×227×3, 1000 classes, two-GPU groups: the paper's 60.97 M
    assert model.count_params() == 60_965_224


def test_alexnet_small_forward_and_ungrouped():
    model = zoo.alexnet(input_shape=(67, 67, 3), grouped=False)
    # at 67×67 the last pool is 1×1×256 instead of 6×6×256: fc6 shrinks by (9216-256)×4096
    assert model.count_params() + (9216 - 256) * 4096 == 62_378_344
    check_softmax(forward(model, (67, 67, 3), batch=1)[0], 1, 1000)


def test_vgg16_published_count():
    assert zoo.vgg16().count_params() == 138_357_544


@pytest.mark.parametrize(
    "config,published",
    [("A", 132_863_336), ("B", 133_047_848), ("C", 133_638_952), ("D", 138_357_544),
     ("E", 143_667_240)],
)  # fmt: skip
def test_vgg_table2(config, published):
    model = zoo.vgg(config, input_shape=(32, 32, 3))
    # 32×32 leaves 1×1×512 for fc6 instead of 7×7×512 (25,088 inputs)
    assert model.count_params() + (25088 - 512) * 4096 == published
    assert round(published / 1e6) == {"A": 133, "B": 133, "C": 134, "D": 138, "E": 144}[config]
    check_softmax(forward(model, (32, 32, 3), batch=1)[0], 1, 1000)


def test_vgg_bad_config():
    with pytest.raises(ValueError, match="config"):
        zoo.vgg("F")


def test_vgg19_builder_num_classes():
    model = zoo.vgg19(input_shape=(32, 32, 3), num_classes=10)
    # conv part of config E, then fc6 (512 inputs at 32×32), fc7, fc8 with 10 classes
    fc = 512 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10
    assert model.count_params() == 20_024_384 + fc


def _googlenet_expected(aux: bool) -> int:
    """Table 1 of the paper, computed independently of the model code."""
    conv = lambda k, c, f: k * k * c * f + f  # noqa: E731
    mods = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64),
            (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
            (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
            (528, 256, 160, 320, 32, 128, 128), (832, 256, 160, 320, 32, 128, 128),
            (832, 384, 192, 384, 48, 128, 128)]  # fmt: skip
    n = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192) + 1024 * 1000 + 1000
    for c, a, r3, b, r5, d, p in mods:
        n += conv(1, c, a) + conv(1, c, r3) + conv(3, r3, b) + conv(1, c, r5) + conv(5, r5, d)
        n += conv(1, c, p)
    if aux:
        for c in (512, 528):
            n += conv(1, c, 128) + 2048 * 1024 + 1024 + 1024 * 1000 + 1000
    return n


def test_googlenet_counts():
    assert _googlenet_expected(False) == 6_998_552
    assert _googlenet_expected(True) == 6_998_552 + 6_379_728
    # without aux heads the count does not depend on the input size (global average pooling)
    assert zoo.googlenet(input_shape=(64, 64, 3), aux_classifiers=False).count_params() == (
        6_998_552
    )
    assert zoo.googlenet().count_params() == 13_378_280  # 224×224 with both aux heads


def test_googlenet_forward_with_aux():
    model = zoo.googlenet(input_shape=(96, 96, 3), num_classes=10)
    outs = forward(model, (96, 96, 3))
    assert len(outs) == 3 and zoo.GOOGLENET_LOSS_WEIGHTS == (1.0, 0.3, 0.3)
    for o in outs:
        check_softmax(o, 2, 10)


# BatchNorm moving mean/variance: 2 per BN channel (torchvision's buffers, Keras's
# non-trainable params); ResNet-50's 53,120 is also Keras's ResNet50 figure.
RESNETS = [(18, 11_689_512, 9_600), (34, 21_797_672, 17_024), (50, 25_557_032, 53_120)]


@pytest.mark.parametrize("depth,trainable,moving", RESNETS)
def test_resnet(depth, trainable, moving):
    # global average pooling: the count does not depend on the input size
    model = getattr(zoo, f"resnet{depth}")(input_shape=(32, 32, 3))
    assert trainable_count(model) == trainable
    assert model.count_params() == trainable + moving
    check_softmax(forward(model, (32, 32, 3))[0], 2, 1000)


def test_resnet_bad_depth():
    with pytest.raises(ValueError, match="depth"):
        zoo.resnet(20)


def test_alphago_policy():
    assert zoo.alphago_policy().count_params() == 3_882_793  # k=192
    # 5×5×48×k + k, 11 × (3×3×k×k + k), k (1×1, no shared bias) + 361 position biases
    k = 16
    model = zoo.alphago_policy(k=k)
    assert model.count_params() == 25 * 48 * k + k + 11 * (9 * k * k + k) + k + 361
    check_softmax(forward(model, (19, 19, 48))[0], 2, 361)


def test_position_bias_layer():
    layer = zoo.PositionBias(dtype="float64")
    x = dc.tensor(np.random.default_rng(0).random((3, 4, 5)), requires_grad=True)
    y = layer(x)
    assert layer.bias.shape == (4, 5) and layer.count_params() == 20
    layer.bias.detach().numpy()[...] = np.arange(20.0).reshape(4, 5)
    y = layer(x)
    np.testing.assert_allclose(
        y.detach().numpy(), x.detach().numpy() + np.arange(20.0).reshape(4, 5)
    )
    g = np.random.default_rng(1).random((3, 4, 5))
    (y * dc.tensor(g)).sum().backward()
    np.testing.assert_allclose(layer.bias.grad.numpy(), g.sum(0))
    np.testing.assert_allclose(x.grad.numpy(), g)
    clone = zoo.PositionBias.from_config(layer.get_config())
    assert isinstance(clone, zoo.PositionBias)
