"""MobileNetV2 1.0/224 in Keras 3, laid out exactly like torchvision's, from its weights.

Faithfulness matters more than convenience here: stride-2 convolutions pad one pixel on
every side (Keras' ``padding="same"`` pads only bottom/right), BatchNorm uses epsilon 1e-5,
activations are ReLU6, and the ImageNet mean/std normalisation of 0-255 RGB happens inside
the model so that every caller feeds the same thing.

The model takes float32 ``(N, 224, 224, 3)`` RGB in 0-255 and returns
``[embedding (N, 1280), logits (N, 1000)]``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from core.model.preprocess import INPUT_SIZE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
BN_EPSILON = 1e-5
# (expansion, output channels, repeats, first stride), as in the MobileNetV2 paper.
_BLOCKS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
           (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))  # fmt: skip
_STEM_CHANNELS = 32
_LAST_CHANNELS = 1280


def build_torchvision_mobilenet_v2(state: dict[str, np.ndarray]) -> Any:
    """Build the Keras model and load torchvision's ``state_dict`` into it."""
    layers = keras.layers
    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), dtype="float32", name="image")
    x = layers.Normalization(
        mean=[255.0 * m for m in IMAGENET_MEAN],
        variance=[(255.0 * s) ** 2 for s in IMAGENET_STD],
        name="imagenet_normalise",
    )(inputs)
    x = _conv_bn(x, state, "features.0", _STEM_CHANNELS, kernel=3, stride=2, relu=True)
    channels, index = _STEM_CHANNELS, 1
    for expansion, out_channels, repeats, first_stride in _BLOCKS:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            x = _inverted_residual(
                x, state, index, inp=channels, out=out_channels, stride=stride, t=expansion
            )
            channels, index = out_channels, index + 1
    x = _conv_bn(x, state, f"features.{index}", _LAST_CHANNELS, kernel=1, stride=1, relu=True)
    embedding = layers.GlobalAveragePooling2D(name="embedding")(x)
    dense = layers.Dense(1000, name="logits")
    logits = dense(embedding)
    dense.set_weights([state["classifier.1.weight"].T, state["classifier.1.bias"]])
    return keras.Model(inputs, [embedding, logits], name="mobilenet_v2_torchvision")


def _inverted_residual(
    x: Any, state: dict[str, np.ndarray], index: int, *, inp: int, out: int, stride: int, t: int
) -> Any:
    prefix = f"features.{index}.conv"
    shortcut = x
    parts = 0
    if t != 1:
        x = _conv_bn(x, state, f"{prefix}.0", inp * t, kernel=1, stride=1, relu=True)
        parts = 1
    x = _conv_bn(x, state, f"{prefix}.{parts}", inp * t, kernel=3, stride=stride, depthwise=True)
    x = _conv(x, state[f"{prefix}.{parts + 1}.weight"], f"{prefix}.{parts + 1}", stride=1)
    x = _batch_norm(x, state, f"{prefix}.{parts + 2}")
    if stride == 1 and inp == out:
        x = keras.layers.Add(name=f"features.{index}.add")([shortcut, x])
    return x


def _conv_bn(
    x: Any,
    state: dict[str, np.ndarray],
    prefix: str,
    channels: int,
    *,
    kernel: int,
    stride: int,
    relu: bool = True,
    depthwise: bool = False,
) -> Any:
    """Conv (or depthwise conv), BatchNorm, ReLU6: torchvision's ``ConvBNReLU``."""
    weight = state[f"{prefix}.0.weight"]
    if weight.shape[0] != channels or weight.shape[-1] != kernel:
        raise ValueError(f"{prefix}: weight shape {weight.shape} does not fit the layout")
    x = _conv(x, weight, f"{prefix}.0", stride=stride, depthwise=depthwise)
    x = _batch_norm(x, state, f"{prefix}.1")
    if relu:
        x = keras.layers.ReLU(max_value=6.0, name=f"{prefix}.relu6")(x)
    return x


def _conv(x: Any, weight: np.ndarray, name: str, *, stride: int, depthwise: bool = False) -> Any:
    """A bias-free conv with torch's symmetric padding of ``kernel // 2``."""
    kernel = weight.shape[-1]
    pad = kernel // 2
    if pad and stride > 1:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}.pad")(x)
    padding = "valid" if stride > 1 or pad == 0 else "same"
    # torch: (out, in/groups, kh, kw); Keras: (kh, kw, in, out) or (kh, kw, channels, 1).
    kernel_hwio = np.transpose(weight, (2, 3, 1, 0))
    if depthwise:
        layer: Any = keras.layers.DepthwiseConv2D(
            kernel, strides=stride, padding=padding, use_bias=False, name=name
        )
        kernel_hwio = np.transpose(weight, (2, 3, 0, 1))
    else:
        layer = keras.layers.Conv2D(
            weight.shape[0], kernel, strides=stride, padding=padding, use_bias=False, name=name
        )
    y = layer(x)
    layer.set_weights([kernel_hwio])
    return y


def _batch_norm(x: Any, state: dict[str, np.ndarray], prefix: str) -> Any:
    layer = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=prefix)
    y = layer(x)
    layer.set_weights([state[f"{prefix}.{key}"] for key in
                       ("weight", "bias", "running_mean", "running_var")])  # fmt: skip
    return y
