"""`convnet`: a small CNN encoder, images to pooled features, sized for CPU self-supervised runs."""

import keras

from keras_hier.distribute import batch_normalization


def convnet(input_shape=(28, 28, 1), widths=(32, 64, 128), name="convnet", batch_norm_momentum=0.9,
            batch_norm_epsilon=1e-5):
    """Per width: a 3x3 convolution (stride 1), batch norm, ReLU, then a stride-2 3x3 convolution, batch norm,
    ReLU; finally global average pooling. The output is the feature vector [batch, widths[-1]].

    It stands in for the ResNet-50 of the self-supervised methods' PyTorch code, so its batch norms are PyTorch's
    by default (moving statistics with weight 0.1, i.e. Keras `momentum=0.9`; epsilon 1e-5).

    Args:
        input_shape: image shape `(height, width, channels)`.
        widths: filters of each stage (each halves the resolution).
        name: model name.
        batch_norm_momentum: Keras momentum of the batch norms' moving statistics (Keras' default: 0.99).
        batch_norm_epsilon: of the batch norms (Keras' default: 1e-3).

    Returns:
        A Functional `keras.Model` from images to features.

    Example:
    >>> convnet((28, 28, 1), widths=(8, 16)).output.shape
    (None, 16)
    """
    if len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (height, width, channels); got {input_shape!r}.")
    if not widths or min(int(w) for w in widths) < 1:
        raise ValueError(f"`widths` must be positive filter counts; got {widths!r}.")
    inputs = keras.Input(tuple(input_shape), name="images")
    x = inputs
    for stage, filters in enumerate(widths):
        for stride in (1, 2):
            x = keras.layers.Conv2D(int(filters), 3, strides=stride, padding="same", use_bias=False,
                                    name=f"stage{stage}_conv{stride}")(x)
            x = batch_normalization(momentum=batch_norm_momentum, epsilon=batch_norm_epsilon,
                                    name=f"stage{stage}_bn{stride}")(x)
            x = keras.layers.ReLU(name=f"stage{stage}_relu{stride}")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D(name="features")(x), name=name)
