"""keras.applications-style constructors (deepcore.applications) over the zoo: Keras's
arguments (include_top, weights, input_tensor, input_shape, pooling, classes), layer names
and parameter counts, at small input sizes."""

from __future__ import annotations

import deepcore as dc
import deepcore.keras as keras
import deepcore.nn as layers
import numpy as np
import pytest
from deepcore import applications
from deepcore.models import Input, Model


def test_vgg16_keras_layout_and_counts():
    base = applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    assert base.count_params() == 14_714_688  # Keras's VGG16 without the top
    assert [lyr.name for lyr in base.layers[:4]] == [
        base.layers[0].name,
        "block1_conv1",
        "block1_conv2",
        "block1_pool",
    ]
    assert type(base.layers[0]).__name__ == "InputLayer"
    assert base.output_shape == (None, 1, 1, 512)
    assert base.get_layer("block5_conv3").get_weights()[0].shape == (3, 3, 512, 512)
    # with the top at 32x32: Keras's formula, 512 flattened features into fc1
    top = applications.VGG16(weights=None, input_shape=(32, 32, 3), classes=10)
    fc = (512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 10 + 10)
    assert top.count_params() == 14_714_688 + fc
    assert [lyr.name for lyr in top.layers[-4:]] == ["flatten", "fc1", "fc2", "predictions"]
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32)
    p = top.predict(x, verbose=0)
    assert p.shape == (2, 10) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_pooling_input_tensor_and_errors():
    avg = applications.VGG19(include_top=False, weights=None, input_shape=(32, 32, 3),
                             pooling="avg")  # fmt: skip
    assert avg.output_shape == (None, 512)
    assert avg.count_params() == 20_024_384
    inp = Input(shape=(32, 32, 3))
    scaled = layers.Rescaling(1 / 255.0)(inp)
    res = applications.ResNet50(include_top=False, weights=None, input_tensor=scaled,
                                pooling="max")  # fmt: skip
    assert res.inputs == [inp] and res.output_shape == (None, 2048)
    with pytest.raises(ValueError, match="no pretrained weights"):
        applications.VGG16(weights="imagenet")
    with pytest.raises(ValueError, match="pooling"):
        applications.VGG16(include_top=False, input_shape=(32, 32, 3), pooling="mean")
    # without the top the spatial size may be left open, as in Keras
    open_base = applications.VGG16(include_top=False, weights=None)
    assert open_base.input.shape == (None, None, None, 3)


def test_resnet50_counts_and_weights_from_a_file(tmp_path):
    dc.manual_seed(0)
    model = applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=7)
    trainable = sum(w.size for w in model.trainable_weights)
    # Keras's ResNet50 (25,583,592 trainable at 1000 classes) with a 7-class top
    assert trainable == 25_583_592 - (2048 * 1000 + 1000) + (2048 * 7 + 7)
    assert model.layers[-1].name == "predictions"
    path = tmp_path / "r50.weights"
    model.save_weights(path)
    again = applications.ResNet50(weights=str(path), input_shape=(32, 32, 3), classes=7)
    x = np.random.default_rng(1).random((2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)  # fmt: skip


@pytest.mark.parametrize(
    "ctor, total, trainable",
    [  # model.summary() of keras.applications.ResNet50 / 101 / 152 (weights=None)
        (applications.ResNet50, 25_636_712, 25_583_592),
        (applications.ResNet101, 44_707_176, 44_601_832),
        (applications.ResNet152, 60_419_944, 60_268_520),
    ],
)
def test_resnets_have_keras_v1_counts_and_names(ctor, total, trainable):
    model = ctor(weights=None)
    assert model.count_params() == total
    assert sum(w.size for w in model.trainable_weights) == trainable
    names = [layer.name for layer in model.layers]
    assert names[1:7] == ["conv1_pad", "conv1_conv", "conv1_bn", "conv1_relu", "pool1_pad",
                          "pool1_pool"]  # fmt: skip
    assert names[-3:] == ["conv5_block3_out", "avg_pool", "predictions"]
    # v1: the stage's stride is on the first 1x1 conv, and every conv has a bias
    first = model.get_layer("conv3_block1_1_conv")
    assert first.strides == (2, 2) and first.kernel_size == (1, 1) and first.use_bias
    assert model.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert model.get_layer("conv3_block1_0_conv").strides == (2, 2)
    assert model.get_layer("conv2_block2_add") is not None
    if ctor is applications.ResNet50:
        assert len(model.layers) == 177  # Keras's len(ResNet50().layers), InputLayer included


def test_transfer_learning_pattern():
    """Keras's transfer-learning guide: frozen base, base(x, training=False), new head."""
    base_model = applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    base_model.trainable = False
    inputs = Input(shape=(32, 32, 3))
    x = base_model(inputs, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(3)(x)
    model = Model(inputs, outputs)
    assert sum(w.size for w in model.trainable_weights) == 512 * 3 + 3
    before = [w.copy() for w in base_model.get_weights()]
    model.compile(optimizer="adam", loss="mse")
    xs = np.random.default_rng(2).random((4, 32, 32, 3)).astype(np.float32)
    model.fit(xs, np.zeros((4, 3), np.float32), epochs=1, verbose=0)
    for a, b in zip(before, base_model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "ctor, total, trainable, without_top, first, last",
    [  # model.summary() of Keras's applications (weights=None), and their layer names
        (applications.MobileNet, 4_253_864, 4_231_976, 3_228_864, "conv1", "predictions"),
        (applications.MobileNetV2, 3_538_984, 3_504_872, 2_257_984, "Conv1", "predictions"),
        (applications.Xception, 22_910_480, 22_855_952, 20_861_480, "block1_conv1", "predictions"),
        (applications.DenseNet121, 8_062_504, 7_978_856, 7_037_504, None, "predictions"),
        (applications.DenseNet169, 14_307_880, 14_149_480, 12_642_880, None, "predictions"),
        (applications.DenseNet201, 20_242_984, 20_013_928, 18_321_984, None, "predictions"),
        (applications.InceptionV3, 23_851_784, 23_817_352, 21_802_784, None, "predictions"),
        (applications.MobileNetV3Small, 2_554_968, 2_542_856, 939_120, None, "predictions"),
        (applications.MobileNetV3Large, 5_507_432, 5_483_032, 2_996_352, None, "predictions"),
        (applications.ResNet50V2, 25_613_800, 25_568_360, 23_564_800, "conv1_pad", "predictions"),
        (applications.ResNet101V2, 44_675_560, 44_577_896, 42_626_560, "conv1_pad", "predictions"),
        (applications.ResNet152V2, 60_380_648, 60_236_904, 58_331_648, "conv1_pad", "predictions"),
    ],  # fmt: skip
)
def test_more_families_have_keras_counts_and_names(ctor, total, trainable, without_top, first,
                                                   last):  # fmt: skip
    model = ctor(weights=None)
    assert model.count_params() == total
    assert sum(w.size for w in model.trainable_weights) == trainable
    assert ctor(weights=None, include_top=False).count_params() == without_top
    names = [layer.name for layer in model.layers]
    if first is not None:
        assert names[1] == first
    assert names[-1] == last and len(set(names)) == len(names)


@pytest.mark.parametrize(
    "i, keras_total, trainable",
    [(0, 5_330_571, 5_288_548), (1, 7_856_239, 7_794_184), (7, 66_658_687, 66_347_960)],
)
def test_efficientnets_have_keras_counts(i, keras_total, trainable):
    model = getattr(applications, f"EfficientNetB{i}")(weights=None)
    assert sum(w.size for w in model.trainable_weights) == trainable
    # Keras's Normalization keeps one more non-trainable number (its adapt ``count``);
    # deepcore's has only the mean and variance: every other weight is Keras's
    assert model.count_params() == keras_total - 1
    names = [layer.name for layer in model.layers]
    assert "stem_conv" in names and "block1a_se_excite" in names and names[-1] == "predictions"
    assert model.get_layer("block2a_dwconv_pad") is not None
    assert ("block2b_drop" in names) and ("block2a_drop" not in names)  # stochastic depth


def test_mobilenet_v2_blocks_and_odd_sizes():
    model = applications.MobileNetV2(weights=None, input_shape=(33, 35, 3), classes=5)
    # Conv1 gives 17 x 18: Keras's correct_pad pads the odd side evenly, the even one (0, 1)
    assert model.get_layer("block_1_pad").padding == ((1, 1), (0, 1))
    even = applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=5)
    assert even.get_layer("block_1_pad").padding == ((0, 1), (0, 1))
    assert even.get_layer("block_2_add") is not None and "block_3_add" not in [
        la.name for la in even.layers
    ]
    x = np.random.default_rng(3).random((2, 33, 35, 3)).astype(np.float32)
    p = model.predict(x, verbose=0)
    assert p.shape == (2, 5) and np.allclose(p.sum(1), 1, atol=1e-5)
    half = applications.MobileNetV2(weights=None, alpha=0.5, include_top=False, pooling="avg",
                                    input_shape=(32, 32, 3))  # fmt: skip
    assert half.output_shape == (None, 1280)  # alpha <= 1 keeps 1280 last filters, as Keras
    assert half.get_layer("Conv1").filters == 16
    with pytest.raises(ValueError, match="alpha"):
        applications.MobileNetV2(weights=None, alpha=0)


def test_small_inputs_forward_and_train():
    """One training step of each family at a small size (the transfer learning shapes:
    include_top=False, pooling, a new head) moves every trainable weight."""
    rng = np.random.default_rng(4)
    for ctor, size in ((applications.MobileNet, 32), (applications.Xception, 71),
                       (applications.DenseNet121, 64),
                       (applications.EfficientNetB0, 32),
                       (applications.MobileNetV3Small, 32)):  # fmt: skip
        dc.manual_seed(0)
        base = ctor(weights=None, include_top=False, pooling="avg", input_shape=(size, size, 3))
        inputs = Input(shape=(size, size, 3))
        outputs = layers.Dense(2)(base(inputs))
        model = Model(inputs, outputs)
        model.compile(optimizer="sgd", loss="mse")
        x = rng.random((2, size, size, 3)).astype(np.float32)
        y = rng.standard_normal((2, 2)).astype(np.float32)
        before = [w.numpy().copy() for w in model.trainable_weights]
        loss = model.fit(x, y, epochs=1, verbose=0).history["loss"]
        assert np.isfinite(loss).all() and np.isfinite(model.predict(x, verbose=0)).all()
        # the step reached every layer: each trainable weight moved
        still = [w.name for w, b in zip(model.trainable_weights, before)
                 if np.array_equal(w.numpy(), b)]  # fmt: skip
        assert still == [], (ctor.__name__, still[:5])


def test_resnet_v2_is_pre_activation_with_the_stride_on_a_stages_last_block():
    model = applications.ResNet50V2(weights=None, input_shape=(64, 64, 3), classes=3)
    names = [layer.name for layer in model.layers]
    assert "conv1_bn" not in names and names[-4:-2] == ["post_bn", "post_relu"]
    assert model.get_layer("conv2_block3_2_conv").strides == (2, 2)
    assert model.get_layer("conv2_block1_2_conv").strides == (1, 1)
    assert model.get_layer("conv5_block3_2_conv").strides == (1, 1)
    assert not model.get_layer("conv2_block1_1_conv").use_bias
    assert model.get_layer("conv2_block1_3_conv").use_bias
    x = np.random.default_rng(5).random((2, 64, 64, 3)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2, 3)


def test_convnext_tiny_counts_names_and_preprocessing(tmp_path):
    model = applications.ConvNeXtTiny(weights=None)
    assert model.count_params() == 28_589_128  # Keras's ConvNeXtTiny, all trainable
    names = [layer.name for layer in model.layers]
    assert names[1:3] == ["convnext_tiny_prestem_normalization", "convnext_tiny_stem"]
    assert names[-1] == "convnext_tiny_head_dense"
    assert model.get_layer("convnext_tiny_stage_0_block_0_layer_scale").gamma.shape == (96,)
    base = applications.ConvNeXtTiny(include_top=False, pooling="avg", input_shape=(32, 32, 3))
    x = np.random.default_rng(6).random((2, 32, 32, 3)).astype(np.float32) * 255
    y = base.predict(x, verbose=0)
    assert y.shape == (2, 768) and np.isfinite(y).all()
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-4)  # the final LayerNormalization
    path = tmp_path / "cnx.keras"
    base.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), y, rtol=1e-5, atol=1e-5)
