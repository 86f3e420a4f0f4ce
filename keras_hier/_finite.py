"""`finite_inputs` and `finite_step_checks`: a custom train step stops at the first non-finite input, loss or
gradient, before the optimizer writes it into the weights.

Keras' `TerminateOnNaN` looks at the logged loss after the step: by then a NaN gradient is in the weights, and a
loss averaged over the epoch, or one that the NaN does not reach (a NaN pixel that a clamp or a Sinkhorn
normalisation hides from the loss but not from the gradients), may stay finite while the kernels turn NaN. These
checks run inside the step (TensorFlow backend) and raise an `InvalidArgumentError` that says which it was.
"""

import keras


def finite_inputs(what, inputs):
    """`inputs` (a tensor) behind an assertion that it is all finite: use it before the forward pass, whose batch
    statistics (BatchNorm's moving mean and variance) would otherwise take in the NaN before any check on the loss.

    Args:
        what: the model's name in the message.
        inputs: the batch's input tensor.
    """
    import tensorflow as tf

    if inputs is None or not tf.is_tensor(inputs) or not tf.as_dtype(inputs.dtype).is_floating:
        return inputs
    check = tf.debugging.Assert(tf.reduce_all(tf.math.is_finite(inputs)), [
        f"{what}: the input batch holds NaN or infinite values; fix or drop those images (make_dataset and "
        "make_batches refuse such arrays). No weights were changed by this step."])
    with tf.control_dependencies([check]):
        return tf.identity(inputs)


def finite_step_checks(what, loss, gradients, optimizer):
    """The assertions to put before `optimizer.apply_gradients`: the loss and (unless the optimizer scales the
    loss: a `LossScaleOptimizer` skips overflowing steps by design) the gradients are all finite.

    Args:
        what: the model's name in the messages (e.g. "SwAV").
        loss: the step's loss (unscaled).
        gradients: the gradients about to be applied (None entries ignored).
        optimizer: the optimizer that applies them.

    Returns:
        A list of assertion ops: use them as `tf.control_dependencies` of the update.

    Example:
    >>> import tensorflow as tf  # doctest: +SKIP
    >>> with tf.control_dependencies(finite_step_checks("MoCo", loss, grads, opt)):  # doctest: +SKIP
    ...     opt.apply_gradients(zip(grads, variables))
    """
    import tensorflow as tf

    def all_finite(x):
        return tf.reduce_all(tf.math.is_finite(tf.cast(x, tf.float32)))

    checks = [tf.debugging.Assert(all_finite(loss), [
        f"{what}: the training loss is NaN or infinite; lower the learning rate or check the data. The optimizer "
        "did not apply this step."])]
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        present = [g for g in gradients if g is not None]
        if present:
            finite = tf.reduce_all(tf.stack([all_finite(g) for g in present]))
            checks.append(tf.debugging.Assert(finite, [
                f"{what}: a gradient is NaN or infinite while the loss is finite; lower the learning rate or check "
                "the data. The optimizer did not apply this step."]))
    return checks
