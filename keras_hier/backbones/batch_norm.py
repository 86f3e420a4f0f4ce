"""`set_batch_norm_momentum`: how fast a model's batch norms forget the statistics they started with."""

import keras


def set_batch_norm_momentum(model, momentum):
    """Sets the `momentum` of every `BatchNormalization` layer in `model` (nested models included); returns how
    many it changed.

    Keras updates a batch norm's moving statistics as `moving = momentum * moving + (1 - momentum) * batch`, and
    its default momentum, 0.99, keeps 0.99 ** n of the initial statistics (mean 0, variance 1) after n steps:
    18 % after 170 steps. A randomly initialised or briefly fine-tuned keras.applications backbone then predicts
    with statistics far from its activations', and every image gets the same class. PyTorch's default, which the
    papers' code uses, is Keras' `momentum=0.9` (0.9 ** 50 < 1 %). Set it before `compile`: a compiled training
    step keeps the value it was traced with.

    Args:
        model: a Keras model (or layer).
        momentum: the new momentum, in [0, 1).

    Example:
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(4), keras.layers.BatchNormalization()])
    >>> set_batch_norm_momentum(model, 0.9)   # e.g. keras.applications.ResNet50(weights=None, ...) before compile
    1
    """
    momentum = float(momentum)
    if not 0 <= momentum < 1:
        raise ValueError(f"`momentum` must be in [0, 1); got {momentum} (Keras' default is 0.99, PyTorch's 0.9).")
    changed = 0
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            changed += 1
    return changed
