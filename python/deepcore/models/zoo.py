"""Reference models built from deepcore layers, with the parameter counts they reproduce.

    from deepcore.models import zoo
    model = zoo.resnet50()                                  # 25,557,032 trainable parameters
    small = zoo.vgg16(input_shape=(32, 32, 3), num_classes=10)

Images are channels-last (Keras's default): ``input_shape=(H, W, C)``. Every builder takes
``input_shape`` and ``num_classes`` so a test can run a forward pass at a small size; the
published counts are for the default (ImageNet, 1000 classes) configuration.

| builder | variant | parameters (default config) |
|---|---|---|
| seed_convnet | the seed Keras MNIST convnet | 93,322 (conv part 55,744) |
| lenet5 | LeCun et al. 1998, fully connected C3 | 61,706 |
| alexnet | Krizhevsky et al. 2012, grouped conv2/4/5 | 60,965,224 (ungrouped 62,378,344) |
| vgg11 (A) | Simonyan & Zisserman 2015, Table 2 | 132,863,336 |
| vgg13 (B) | | 133,047,848 |
| vgg('C') | 1×1 convs in the last three stages | 133,638,952 |
| vgg16 (D) | | 138,357,544 |
| vgg19 (E) | | 143,667,240 |
| googlenet | Szegedy et al. 2015, as in the paper | 6,998,552 (+ 6,379,728 in 2 aux heads) |
| resnet18 | He et al. 2016, torchvision layout | 11,689,512 trainable |
| resnet34 | (no conv biases, BatchNorm) | 21,797,672 trainable |
| resnet50 | | 25,557,032 trainable |
| alphago_policy | Silver et al. 2016 SL policy net, k=192 | 3,882,793 |

BatchNormalization layers also hold moving mean/variance (non-trainable state, 2 per channel);
torchvision's counts leave them out, as do the trainable counts above.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import nn
from ..nn.module import Module
from .functional import Input
from .sequential import Sequential
from .training import Model

__all__ = [
    "GOOGLENET_LOSS_WEIGHTS",
    "PositionBias",
    "VGG_CONFIGS",
    "alexnet",
    "alphago_policy",
    "googlenet",
    "lenet5",
    "resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet_features",
    "seed_convnet",
    "vgg",
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "vgg_conv_layers",
]

Shape = Sequence[int]


# --------------------------------------------------------------------------------------------
# Small sequential nets


def seed_convnet(input_shape: Shape = (28, 28, 1), num_classes: int = 10) -> Any:
    """The seed Keras MNIST convnet: 93,322 parameters, 55,744 of them in the conv part."""
    return Sequential(
        [
            nn.Conv2D(32, (3, 3), activation="relu", input_shape=tuple(input_shape)),
            nn.MaxPooling2D((2, 2)),
            nn.Conv2D(64, (3, 3), activation="relu"),
            nn.MaxPooling2D((2, 2)),
            nn.Conv2D(64, (3, 3), activation="relu"),
            nn.Flatten(),
            nn.Dense(64, activation="relu"),
            nn.Dense(num_classes, activation="softmax"),
        ],
        name="seed_convnet",
    )


def lenet5(
    input_shape: Shape = (28, 28, 1),
    num_classes: int = 10,
    activation: str = "tanh",
    pooling: str = "average",
) -> Any:
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) in its usual modern form: 61,706 params.

    C1 6@5×5 (padding 'same' on a 28×28 image stands in for the paper's 32×32 input) – S2 2×2
    pooling – C3 16@5×5 – S4 2×2 pooling – C5 Dense 120 – F6 Dense 84 – output Dense 10.
    Differences from the paper (which counts ~60,000 trainable parameters): C3 connects every
    input map (2,416 params, not the paper's partial table with 1,516), pooling has no trainable
    coefficient/bias, and the output is softmax, not Euclidean RBF units. ``activation``
    ('tanh' as in the paper, or 'relu') and ``pooling`` ('average' or 'max') are selectable.
    """
    pool = {"average": nn.AveragePooling2D, "max": nn.MaxPooling2D}[pooling]
    return Sequential(
        [
            nn.Conv2D(6, 5, padding="same", activation=activation, input_shape=tuple(input_shape)),
            pool(2),
            nn.Conv2D(16, 5, activation=activation),
            pool(2),
            nn.Flatten(),
            nn.Dense(120, activation=activation),
            nn.Dense(84, activation=activation),
            nn.Dense(num_classes, activation="softmax"),
        ],
        name="lenet5",
    )


def alexnet(
    input_shape: Shape = (227, 227, 3),
    num_classes: int = 1000,
    grouped: bool = True,
    dropout: float = 0.5,
) -> Any:
    """AlexNet (Krizhevsky, Sutskever, Hinton 2012): 5 conv + 3 max-pool + 3 FC, ReLU, dropout.

    With ``grouped=True`` conv2, conv4 and conv5 are split in two groups as on the paper's two
    GPUs: 60,965,224 parameters (the paper's "60 million"). ``grouped=False`` is the one-tower
    version: 62,378,344. The input is 227×227 (the size the paper's arithmetic needs; it says
    224). Local response normalisation (no parameters) is left out, as in torchvision.
    """
    g = 2 if grouped else 1
    return Sequential(
        [
            nn.Conv2D(96, 11, strides=4, activation="relu", input_shape=tuple(input_shape)),
            nn.MaxPooling2D(3, strides=2),
            nn.Conv2D(256, 5, padding="same", groups=g, activation="relu"),
            nn.MaxPooling2D(3, strides=2),
            nn.Conv2D(384, 3, padding="same", activation="relu"),
            nn.Conv2D(384, 3, padding="same", groups=g, activation="relu"),
            nn.Conv2D(256, 3, padding="same", groups=g, activation="relu"),
            nn.MaxPooling2D(3, strides=2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Dense(4096, activation="relu"),
            nn.Dropout(dropout),
            nn.Dense(4096, activation="relu"),
            nn.Dense(num_classes, activation="softmax"),
        ],
        name="alexnet",
    )


# VGG Table 1, one stage after another: "N" a 3×3 conv with N filters, "N/1" a 1×1 conv with N
# filters (config C), "M" a 2×2 max-pool.
VGG_CONFIGS: dict[str, str] = {
    "A": "64 M 128 M 256 256 M 512 512 M 512 512 M",
    "B": "64 64 M 128 128 M 256 256 M 512 512 M 512 512 M",
    "C": "64 64 M 128 128 M 256 256 256/1 M 512 512 512/1 M 512 512 512/1 M",
    "D": "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M",
    "E": "64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M",
}
_VGG_DEPTH = {"A": 11, "B": 13, "C": 16, "D": 16, "E": 19}


def vgg(
    config: str = "D",
    input_shape: Shape = (224, 224, 3),
    num_classes: int = 1000,
    dropout: float = 0.5,
) -> Any:
    """VGG (Simonyan & Zisserman 2015), configurations A–E of Table 1.

    3×3 convolutions, stride 1, padding 'same', ReLU; 2×2 max-pooling stride 2; widths
    64→128→256→512→512; then FC-4096, FC-4096 (dropout 0.5) and FC-``num_classes``. Config C
    has 1×1 convolutions in its last three stages. Parameters (Table 2: 133/133/134/138/144 M):
    A 132,863,336, B 133,047,848, C 133,638,952, D (VGG-16) 138,357,544, E (VGG-19) 143,667,240.
    """
    layers = vgg_conv_layers(config)
    layers[0].input_shape_arg = tuple(input_shape)
    layers += [
        nn.Flatten(),
        nn.Dense(4096, activation="relu"),
        nn.Dropout(dropout),
        nn.Dense(4096, activation="relu"),
        nn.Dropout(dropout),
        nn.Dense(num_classes, activation="softmax"),
    ]
    return Sequential(layers, name=f"vgg{_VGG_DEPTH[config]}")


def vgg_conv_layers(config: str = "D", keras_names: bool = False) -> list:
    """The convolutional part of VGG ``config``: 3×3 (or 1×1) convs with ReLU and 2×2/2
    max-pools; ``keras_names`` names them as keras.applications does (block1_conv1, ...,
    block1_pool, ...)."""
    if config not in VGG_CONFIGS:
        raise ValueError(f"vgg: config must be one of {sorted(VGG_CONFIGS)}, got {config!r}")
    layers: list = []
    block, conv = 1, 1
    for item in VGG_CONFIGS[config].split():
        if item == "M":
            kw = {"name": f"block{block}_pool"} if keras_names else {}
            layers.append(nn.MaxPooling2D(2, strides=2, **kw))
            block, conv = block + 1, 1
            continue
        filters, _, k = item.partition("/")
        filters, k = int(filters), int(k or 3)
        kw = {"name": f"block{block}_conv{conv}"} if keras_names else {}
        layers.append(nn.Conv2D(filters, k, padding="same", activation="relu", **kw))
        conv += 1
    return layers


def vgg11(**kwargs: Any) -> Any:
    """VGG-11 (config A): 132,863,336 parameters."""
    return vgg("A", **kwargs)


def vgg13(**kwargs: Any) -> Any:
    """VGG-13 (config B): 133,047,848 parameters."""
    return vgg("B", **kwargs)


def vgg16(**kwargs: Any) -> Any:
    """VGG-16 (config D): 138,357,544 parameters."""
    return vgg("D", **kwargs)


def vgg19(**kwargs: Any) -> Any:
    """VGG-19 (config E): 143,667,240 parameters."""
    return vgg("E", **kwargs)


# --------------------------------------------------------------------------------------------
# GoogLeNet / Inception v1

# (name, #1×1, #3×3 reduce, #3×3, #5×5 reduce, #5×5, pool proj) from the paper's Table 1.
_INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}

# Training loss weights of (main, aux1, aux2): the paper adds the auxiliary losses times 0.3.
GOOGLENET_LOSS_WEIGHTS = (1.0, 0.3, 0.3)


def _conv_relu(x: Any, filters: int, k: int, strides: int = 1, name: str | None = None) -> Any:
    return nn.Conv2D(filters, k, strides=strides, padding="same", activation="relu", name=name)(x)


def _inception(x: Any, name: str) -> Any:
    c1, r3, c3, r5, c5, pp = _INCEPTION[name]
    p = f"inception_{name}"
    b1 = _conv_relu(x, c1, 1, name=f"{p}_1x1")
    b2 = _conv_relu(_conv_relu(x, r3, 1, name=f"{p}_3x3_reduce"), c3, 3, name=f"{p}_3x3")
    b3 = _conv_relu(_conv_relu(x, r5, 1, name=f"{p}_5x5_reduce"), c5, 5, name=f"{p}_5x5")
    b4 = nn.MaxPooling2D(3, strides=1, padding="same", name=f"{p}_pool")(x)
    b4 = _conv_relu(b4, pp, 1, name=f"{p}_pool_proj")
    return nn.Concatenate(axis=-1, name=f"{p}_output")([b1, b2, b3, b4])


def _aux_head(x: Any, num_classes: int, name: str) -> Any:
    x = nn.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = _conv_relu(x, 128, 1, name=f"{name}_conv")
    x = nn.Flatten(name=f"{name}_flatten")(x)
    x = nn.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = nn.Dropout(0.7, name=f"{name}_dropout")(x)
    return nn.Dense(num_classes, activation="softmax", name=f"{name}_output")(x)


def googlenet(
    input_shape: Shape = (224, 224, 3), num_classes: int = 1000, aux_classifiers: bool = True
) -> Any:
    """GoogLeNet / Inception v1 (Szegedy et al. 2015) as in the paper's Table 1 and Fig. 3.

    Nine Inception modules with 1×1 reductions, global average pooling, dropout 0.4 and a
    softmax classifier: 6,998,552 parameters (the paper's Table 1 sums to about 7.0 M;
    torchvision's googlenet has 6,624,904 because it uses BatchNorm, drops the conv biases and
    uses 3×3 where the paper has 5×5). With ``aux_classifiers`` the model has three outputs
    ``[main, aux1, aux2]``; the auxiliary heads (after 4a and 4d: 5×5/3 average pool, 1×1 conv
    128, FC 1024, dropout 0.7, FC ``num_classes``) add 6,379,728 parameters and are weighted
    0.3 in the loss (``GOOGLENET_LOSS_WEIGHTS``); they are for training only. The heads need
    the 4a/4d feature maps to be at least 5×5 (input at least 80×80). Local response
    normalisation (no parameters) is left out.
    """
    inputs = Input(shape=tuple(input_shape))
    x = _conv_relu(inputs, 64, 7, strides=2, name="conv1_7x7")
    x = nn.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
    x = _conv_relu(x, 64, 1, name="conv2_3x3_reduce")
    x = _conv_relu(x, 192, 3, name="conv2_3x3")
    x = nn.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
    x = _inception(_inception(x, "3a"), "3b")
    x = nn.MaxPooling2D(3, strides=2, padding="same", name="pool3")(x)
    x = _inception(x, "4a")
    aux1 = _aux_head(x, num_classes, "aux1") if aux_classifiers else None
    x = _inception(_inception(_inception(x, "4b"), "4c"), "4d")
    aux2 = _aux_head(x, num_classes, "aux2") if aux_classifiers else None
    x = _inception(x, "4e")
    x = nn.MaxPooling2D(3, strides=2, padding="same", name="pool4")(x)
    x = _inception(_inception(x, "5a"), "5b")
    x = nn.GlobalAveragePooling2D(name="avg_pool")(x)
    x = nn.Dropout(0.4, name="dropout")(x)
    out = nn.Dense(num_classes, activation="softmax", name="output")(x)
    outputs = [out, aux1, aux2] if aux_classifiers else out
    return Model(inputs, outputs, name="googlenet")


# --------------------------------------------------------------------------------------------
# ResNet


def _conv_bn(x: Any, filters: int, k: int, strides: int = 1, relu: bool = True) -> Any:
    x = nn.Conv2D(filters, k, strides=strides, padding="same", use_bias=False)(x)
    # torchvision's BatchNorm2d defaults: eps 1e-5, momentum 0.1 (Keras momentum 0.9)
    x = nn.BatchNormalization(epsilon=1e-5, momentum=0.9)(x)
    return nn.Activation("relu")(x) if relu else x


def _shortcut(x: Any, filters: int, strides: int, in_filters: int) -> Any:
    if strides == 1 and in_filters == filters:
        return x
    return _conv_bn(x, filters, 1, strides, relu=False)  # projection shortcut (option B)


def _basic_block(x: Any, filters: int, strides: int, in_filters: int) -> tuple[Any, int]:
    y = _conv_bn(x, filters, 3, strides)
    y = _conv_bn(y, filters, 3, relu=False)
    y = nn.Add()([y, _shortcut(x, filters, strides, in_filters)])
    return nn.Activation("relu")(y), filters


def _bottleneck(x: Any, filters: int, strides: int, in_filters: int) -> tuple[Any, int]:
    # ResNet v1.5 (torchvision): the stride sits on the 3×3 conv; same parameter count as v1.
    y = _conv_bn(x, filters, 1)
    y = _conv_bn(y, filters, 3, strides)
    y = _conv_bn(y, 4 * filters, 1, relu=False)
    y = nn.Add()([y, _shortcut(x, 4 * filters, strides, in_filters)])
    return nn.Activation("relu")(y), 4 * filters


_RESNET = {
    18: (_basic_block, (2, 2, 2, 2)),
    34: (_basic_block, (3, 4, 6, 3)),
    50: (_bottleneck, (3, 4, 6, 3)),
    101: (_bottleneck, (3, 4, 23, 3)),
    152: (_bottleneck, (3, 8, 36, 3)),
}


def resnet(depth: int, input_shape: Shape = (224, 224, 3), num_classes: int = 1000) -> Any:
    """ResNet (He, Zhang, Ren, Sun 2016), torchvision's layout: conv 7×7/2 – max-pool 3×3/2 –
    four stages (64, 128, 256, 512 filters; each later stage halves the size and doubles the
    filters, with a 1×1 projection shortcut) – global average pooling – FC. Convolutions have
    no bias (BatchNorm follows each); no dropout. Trainable parameters: ResNet-18 11,689,512,
    -34 21,797,672, -50 25,557,032 (the BatchNorm moving statistics are extra, non-trainable).
    """
    inputs = Input(shape=tuple(input_shape))
    x = nn.GlobalAveragePooling2D()(resnet_features(inputs, depth))
    outputs = nn.Dense(num_classes, activation="softmax")(x)
    return Model(inputs, outputs, name=f"resnet{depth}")


def resnet_features(x: Any, depth: int) -> Any:
    """ResNet-``depth``'s layers up to its last feature map (no pooling, no classifier),
    applied to the placeholder ``x``."""
    if depth not in _RESNET:
        raise ValueError(f"resnet: depth must be one of {sorted(_RESNET)}, got {depth!r}")
    block, repeats = _RESNET[depth]
    x = _conv_bn(x, 64, 7, strides=2)
    x = nn.MaxPooling2D(3, strides=2, padding="same")(x)
    channels = 64
    for stage, n in enumerate(repeats):
        filters = 64 * 2**stage
        for i in range(n):
            strides = 2 if stage > 0 and i == 0 else 1
            x, channels = block(x, filters, strides, channels)
    return x


def resnet18(**kwargs: Any) -> Any:
    """ResNet-18: 11,689,512 trainable parameters."""
    return resnet(18, **kwargs)


def resnet34(**kwargs: Any) -> Any:
    """ResNet-34: 21,797,672 trainable parameters."""
    return resnet(34, **kwargs)


def resnet50(**kwargs: Any) -> Any:
    """ResNet-50: 25,557,032 trainable parameters."""
    return resnet(50, **kwargs)


# --------------------------------------------------------------------------------------------
# AlphaGo policy network


class PositionBias(Module):
    """Adds its own learned bias at every position of the input (all axes but the batch).

    AlphaGo's policy network ends in a 1×1 convolution "with a different bias for each
    position": a weight of shape ``input_shape[1:]`` (361 biases on a flattened 19×19 board).
    """

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.bias = self.add_weight("bias", tuple(input_shape[1:]), "zeros")
        self.built = True

    def call(self, x: Any) -> Any:
        return x + self.bias

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def alphago_policy(k: int = 192, input_shape: Shape = (19, 19, 48), hidden_layers: int = 12) -> Any:
    """AlphaGo's SL policy network (Silver et al. 2016, Methods): 3,882,793 params for k=192.

    Layer 1 zero-pads to 23×23 and convolves k 5×5 filters; layers 2–12 zero-pad to 21×21 and
    convolve k 3×3 filters (ReLU after each); the last layer is a 1×1 convolution with one
    filter and a separate bias for each of the 361 positions, then a softmax over the moves.
    """
    if hidden_layers < 1:
        raise ValueError(f"alphago_policy: hidden_layers must be >= 1, got {hidden_layers}")
    layers: list = [
        nn.Conv2D(k, 5, padding="same", activation="relu", input_shape=tuple(input_shape))
    ]
    layers += [nn.Conv2D(k, 3, padding="same", activation="relu") for _ in range(hidden_layers - 1)]
    layers += [
        nn.Conv2D(1, 1, use_bias=False),
        nn.Flatten(),
        PositionBias(name="position_bias"),
        nn.Activation("softmax"),
    ]
    return Sequential(layers, name="alphago_policy")
