"""Input checks the losses share: widths at trace time, label values at run time (TensorFlow backend)."""

import keras
from keras import ops


def check_width(y_pred, width, what):
    """A ValueError when `y_pred`'s last dimension is known and is not `width`."""
    found = y_pred.shape[-1] if len(y_pred.shape) else None
    if found is not None and int(found) != int(width):
        raise ValueError(f"{what}: expected predictions [batch, {width}]; got shape {tuple(y_pred.shape)}.")


def check_labels(labels, low, high, what):
    """`labels` after a run-time check that every value lies in [low, high] (an `InvalidArgumentError` naming the
    range otherwise). Only under TensorFlow, whose graphs can stop on an assertion; elsewhere `labels` as they are."""
    if keras.backend.backend() != "tensorflow":
        return labels
    import tensorflow as tf

    message = f"{what}: labels must lie in {low}..{high}"
    checks = [tf.debugging.assert_greater_equal(labels, ops.cast(low, labels.dtype), message=message),
              tf.debugging.assert_less_equal(labels, ops.cast(high, labels.dtype), message=message)]
    with tf.control_dependencies(checks):
        return tf.identity(labels)
