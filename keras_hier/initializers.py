"""Initialisers that start weights as the PyTorch reference code of the self-supervised methods does."""

import keras


def reference_normal(stddev=0.02):
    """The reference ViTs' `trunc_normal_(std=0.02)` (DINO, iBOT, timm): it truncates at -2 and 2 in absolute terms,
    a hundred standard deviations out, so it is a plain normal; Keras' `TruncatedNormal` cuts at two standard
    deviations (the spread of its values is 0.88 of the one asked for).

    Example:
    >>> import numpy as np
    >>> round(float(np.std(reference_normal(0.02)((400, 400)))), 3)
    0.02
    """
    return keras.initializers.RandomNormal(stddev=stddev)


def pytorch_default_uniform(fan_in):
    """PyTorch's default for `nn.Linear` and `nn.Conv2d` weights and biases with `fan_in` inputs (`in_features`,
    or `in_channels * kernel_height * kernel_width`): uniform in +-1/sqrt(fan_in) (`kaiming_uniform_(a=sqrt(5))`).

    Example:
    >>> import numpy as np
    >>> float(np.abs(pytorch_default_uniform(16)((1000,))).max()) <= 0.25
    True
    """
    bound = float(fan_in) ** -0.5
    return keras.initializers.RandomUniform(-bound, bound)


__all__ = ["pytorch_default_uniform", "reference_normal"]
