"""Mixed precision when an accelerator is present: `gpu_available` and `set_precision`."""

import keras

POLICIES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def gpu_available():
    """Whether the current Keras backend sees a GPU (TensorFlow, JAX or PyTorch).

    Example:
    >>> isinstance(gpu_available(), bool)
    True
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    return False


def set_precision(precision="auto"):
    """Sets Keras' global dtype policy and returns its name.

    Losses and the tree probabilities of keras_hier stay float32 under mixed policies.

    Args:
        precision: `"auto"` (`"mixed_float16"` when `gpu_available()`, else `"float32"`), or a policy name:
            `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"`.

    Returns:
        The policy's name.

    Example:
    >>> set_precision("float32")
    'float32'
    """
    if precision not in POLICIES:
        raise ValueError(f"Unknown precision {precision!r}: use one of {POLICIES}.")
    if precision == "auto":
        precision = "mixed_float16" if gpu_available() else "float32"
    keras.mixed_precision.set_global_policy(precision)
    return precision
