"""The CIFAR ResNet of He et al. (6n + 2 layers) and its ELU variant (Shah et al.), as Functional models."""

import keras

from keras_hier.distribute import batch_normalization

_ACTIVATIONS = ("relu", "elu")


def block_name(k):
    """The name of the layer whose output is residual block `k` (1-based) of a `resnet_cifar` model.

    HierNet split points and classifier blocks count residual blocks, as the paper does: split point 5 means
    "after block 5", the layer `block_name(5) == "block5_out"`.
    """
    return f"block{int(k)}_out"


def _conv(filters, strides, name):
    return keras.layers.Conv2D(
        filters, 3, strides=strides, padding="same", use_bias=False, kernel_initializer="he_normal", name=name
    )


def _bn(name):
    # Momentum 0.9 (PyTorch's 0.1), as in He et al.'s Torch ResNets: Keras' default 0.99 makes the moving
    # statistics lag for hundreds of steps, which ruins inference after short runs.
    # Synchronized over the replicas when built under a multi-replica strategy (keras_hier.distribute).
    return batch_normalization(momentum=0.9, name=name)


def _residual_block(x, filters, strides, activation, k):
    """One residual block. ReLU (He et al.): conv-BN-ReLU-conv-BN, add, ReLU. ELU (Shah et al.):
    conv-ELU-conv-BN, add, no activation after the addition."""
    p = f"block{k}_"
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(
            filters, 1, strides=strides, use_bias=False, kernel_initializer="he_normal", name=p + "shortcut_conv"
        )(x)
        shortcut = _bn(p + "shortcut_bn")(shortcut)
    y = _conv(filters, strides, p + "conv1")(x)
    if activation == "relu":
        y = _bn(p + "bn1")(y)
    y = keras.layers.Activation(activation, name=p + "act1")(y)
    y = _conv(filters, 1, p + "conv2")(y)
    y = _bn(p + "bn2")(y)
    if activation == "relu":
        y = keras.layers.Add(name=p + "add")([shortcut, y])
        return keras.layers.Activation("relu", name=block_name(k))(y)
    return keras.layers.Add(name=block_name(k))([shortcut, y])


def resnet_cifar(n, num_classes, activation="relu", input_shape=(32, 32, 3), name=None, width=1.0):
    """The CIFAR-10/100 ResNet of He et al. (2016), 6n + 2 layers, or its ELU variant (Shah et al., 2016).

    A 3x3 convolution with 16 filters, then three stages of `n` residual blocks with 16, 32 and 64 filters (the
    first block of stages 2 and 3 halves the resolution, with a 1x1 projection shortcut), global average
    pooling and a softmax classifier. Block `k` (1..3n) ends in the layer `block_name(k)` (`"block{k}_out"`),
    where HierNet cuts the network; the feature map before pooling is `"features"`.

    Args:
        n: residual blocks per stage (3, 5, 7, 9, 18 give ResNet-20, 32, 44, 56, 110).
        num_classes: size of the softmax output.
        activation: `"relu"` (He et al.) or `"elu"` (Shah et al.: ELU blocks without BN after the first
            convolution and no activation after the addition; an ELU before pooling).
        input_shape: image shape, e.g. `(32, 32, 3)`, or `(32, 32, 1)` for grey images.
        name: model name (default `resnet{6n+2}` or `elu_resnet{6n+2}`, with `_x{width}` when `width` is not 1).
        width: a multiplier of the filters of every layer (16, 32 and 64 per stage at 1; 0.5 gives the
            half-width network HierNet's capacity argument calls for: 8, 16 and 32).

    Returns:
        A Functional `keras.Model` mapping images to class probabilities (float32).

    Example:
    >>> model = resnet_cifar(3, 10, input_shape=(32, 32, 1))
    >>> model.name, model.get_layer(block_name(9)).output.shape
    ('resnet20', (None, 8, 8, 64))
    >>> resnet_cifar(3, 10, input_shape=(32, 32, 1), width=0.5).get_layer(block_name(9)).output.shape
    (None, 8, 8, 32)
    """
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive integer (blocks per stage); got {n!r}.")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"Unknown `activation` {activation!r}: use one of {_ACTIVATIONS}.")
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); got {input_shape!r}.")
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1; got {num_classes}.")
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not width > 0 or round(16 * width) < 1:
        raise ValueError(f"`width` must be a positive multiplier of the filters (16 * width >= 0.5); got {width!r}.")
    depth = 6 * n + 2
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv(round(16 * width), 1, "stem_conv")(inputs)
    x = _bn("stem_bn")(x)
    x = keras.layers.Activation(activation, name="stem_act")(x)
    k = 0
    for stage, filters in enumerate(round(f * width) for f in (16, 32, 64)):
        for i in range(n):
            k += 1
            x = _residual_block(x, filters, 2 if stage > 0 and i == 0 else 1, activation, k)
    if activation == "elu":
        x = keras.layers.Activation("elu", name="features")(x)
    else:
        x = keras.layers.Identity(name="features")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer="he_normal", name="logits")(x)
    outputs = keras.layers.Activation("softmax", dtype="float32", name="predictions")(outputs)
    default = f"{'elu_' if activation == 'elu' else ''}resnet{depth}" + (f"_x{width:g}" if width != 1 else "")
    return keras.Model(inputs, outputs, name=name or default)
