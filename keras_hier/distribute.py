"""`get_strategy`: the `tf.distribute` strategy a recipe trains under (`--strategy auto | mirrored | multiworker`)."""

import json
import os

STRATEGIES = ("auto", "mirrored", "multiworker", "none")


def split_cpu(num_devices=2):
    """Splits the CPU into `num_devices` logical devices, so that `MirroredStrategy` can run several replicas on a
    machine without GPUs (for tests and for trying a recipe's multi-replica path). Call it before TensorFlow
    initialises its devices (before any op runs).

    Example:
    >>> split_cpu(2)  # doctest: +SKIP
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(num_devices))
    except RuntimeError as e:
        raise RuntimeError("split_cpu must run before TensorFlow initialises its devices (before any TensorFlow op): "
                           "call it first thing.") from e


def get_strategy(name="auto"):
    """The strategy for `name`:

    - `"auto"`: `MirroredStrategy` over the GPUs when there are two or more, else TensorFlow's default strategy;
    - `"mirrored"`: `MirroredStrategy` over the visible GPUs, or over the logical CPU devices when there is no GPU
      (see `split_cpu`);
    - `"multiworker"`: `MultiWorkerMirroredStrategy`, configured from the `TF_CONFIG` environment variable (a
      cluster of workers and this process's task; see docs/scaling_out.md);
    - `"none"`: the default strategy (one device).

    Build and compile models inside `with strategy.scope():`; `model.fit` then splits each global batch across the
    replicas.

    Example:
    >>> get_strategy("none").num_replicas_in_sync
    1
    """
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}: use one of {STRATEGIES}.")
    if name == "multiworker":
        config = os.environ.get("TF_CONFIG")
        if not config:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable: "
                             '{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", '
                             '"index": 0}} on worker 0, index 1 on worker 1, ...')
        try:
            json.loads(config)
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from e
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in gpus])
    return tf.distribute.get_strategy()
