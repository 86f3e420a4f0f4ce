"""`get_strategy`: the `tf.distribute` strategy a recipe trains under (`--strategy auto | mirrored | multiworker`),
and what training under one needs: `batch_normalization` over the global batch, `is_chief`, and a fix that lets
Keras 3's `model.fit` run under `MultiWorkerMirroredStrategy`."""

import json
import os
import warnings

import numpy as np

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
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == int(num_devices):
        return  # already split this way (a second recipe in the same process)
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
    replicas. A process gets one `MirroredStrategy` per device set: asking again returns the same one.

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
        fix_keras_multiworker_fit()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "mirrored":
        return _mirrored([d.name for d in gpus or tf.config.list_logical_devices("CPU")])
    if name == "auto" and len(gpus) > 1:
        return _mirrored([d.name for d in gpus])
    return tf.distribute.get_strategy()


_MIRRORED = {}


def data_parallel(name="auto"):
    """Under Keras' JAX backend, the `keras.distribution` that a recipe's `--strategy name` stands for, or None:

    - `"auto"`: `keras.distribution.DataParallel` over every device when JAX sees two or more, else None;
    - `"mirrored"`: `DataParallel` over every device (on a CPU-only machine, start Python with
      `XLA_FLAGS=--xla_force_host_platform_device_count=2` for two CPU devices);
    - `"none"`: None (one device);
    - `"multiworker"`: refused (several hosts need `jax.distributed`, which keras_hier does not set up).

    Like `tf.distribute`'s strategies, `DataParallel` splits each global batch across the devices and keeps one copy
    of the variables; the training steps see the global batch (statistics over it, as synchronised BatchNorm).

    Example:
    >>> data_parallel("none") is None
    True
    """
    import keras

    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}: use one of {STRATEGIES}.")
    if keras.backend.backend() != "jax":
        if name in ("auto", "none"):
            return None
        raise ValueError(f"--strategy {name} needs Keras' TensorFlow or JAX backend, not {keras.backend.backend()}: "
                         "use --strategy auto.")
    if name == "multiworker":
        raise ValueError("--strategy multiworker is TensorFlow's (TF_CONFIG); under JAX use --strategy mirrored on one "
                         "host's devices.")
    devices = keras.distribution.list_devices()
    if name == "none" or (name == "auto" and len(devices) < 2):
        return None
    if len(devices) < 2:
        raise ValueError("--strategy mirrored found one device: on a CPU-only machine run with "
                         "XLA_FLAGS=--xla_force_host_platform_device_count=2 for two CPU devices.")
    return keras.distribution.DataParallel(devices=devices)


def _mirrored(devices):
    # One MirroredStrategy per device set and process: a second instance numbers its collective ops from the same
    # keys as the first, and TensorFlow aborts when both have run (e.g. two recipes in one demo on several GPUs).
    import tensorflow as tf

    key = tuple(devices)
    if key not in _MIRRORED:
        _MIRRORED[key] = tf.distribute.MirroredStrategy(list(devices))
    return _MIRRORED[key]


def num_replicas():
    """The replicas of the strategy in scope (1 outside any, and on backends other than TensorFlow).

    Example:
    >>> num_replicas()
    1
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def scale_loss_for_replicas(loss):
    """A replica's loss divided by the number of replicas, for custom training steps: the strategy sums the
    replicas' gradients, so the sum is then the gradient of the mean loss over the global batch (what one device
    computes). Keras' own `Loss.__call__` and `compute_loss` do this already; an unchanged value outside a
    multi-replica strategy.

    Example:
    >>> float(scale_loss_for_replicas(3.0))
    3.0
    """
    replicas = num_replicas()
    return loss if replicas == 1 else loss * (1.0 / replicas)


def all_gather(x):
    """`(x of every replica concatenated along axis 0, where this replica's rows start)` inside a replica step of
    a multi-replica strategy (differentiable: the gradient flows back to each replica's rows); `(x, 0)` elsewhere.

    For losses whose negatives are the rest of the global batch (SimCLR) and queues of the global batch (MoCo).

    Example:
    >>> x, offset = all_gather(np.ones((2, 3), "float32"))
    >>> tuple(x.shape), offset
    ((2, 3), 0)
    """
    if num_replicas() == 1:
        return x, 0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:  # cross-replica context: the values are whole already
        return x, 0
    sizes = context.all_gather(tf.shape(x)[:1], axis=0)
    offset = tf.reduce_sum(sizes[: context.replica_id_in_sync_group])
    return context.all_gather(x, axis=0), offset


def all_sum(x):
    """`x` summed over the replicas inside a replica step of a multi-replica strategy; `x` elsewhere.

    For statistics of the global batch that a method keeps or normalises by: DINO's and iBOT's centres, SwAV's
    Sinkhorn-Knopp sums (each replica sums its rows, then the sums are added up).

    Example:
    >>> float(all_sum(np.float32(2.0)))
    2.0
    """
    if num_replicas() == 1:
        return x
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return x
    return context.all_reduce(tf.distribute.ReduceOp.SUM, x)


def is_chief(strategy=None):
    """Whether this process is the one that writes outputs: always, except under a multi-worker strategy, where
    only worker 0 (or the task of type "chief") is.

    Example:
    >>> is_chief()
    True
    """
    import tensorflow as tf

    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    if resolver.task_type in (None, "chief"):
        return True
    return resolver.task_type == "worker" and int(resolver.task_id) == 0 and "chief" not in resolver.cluster_spec().jobs


def batch_normalization(**kwargs):
    """A `keras.layers.BatchNormalization` whose batch statistics span the global batch when it is built under a
    strategy with several replicas (`synchronized=True`, TensorFlow backend), and the plain layer otherwise.

    Models built with it inside `strategy.scope()` train under `MirroredStrategy` / `MultiWorkerMirroredStrategy`
    as they train on one device with the same global batch; on one device nothing changes.

    Args:
        **kwargs: `keras.layers.BatchNormalization` arguments (`momentum`, `name`, ...).

    Example:
    >>> batch_normalization(momentum=0.9, name="bn").synchronized
    False
    """
    import keras

    if "synchronized" not in kwargs and keras.backend.backend() == "tensorflow":
        kwargs["synchronized"] = num_replicas() > 1
    return keras.layers.BatchNormalization(**kwargs)


def fix_keras_multiworker_fit():
    """Lets Keras 3's `model.fit` / `evaluate` run under `MultiWorkerMirroredStrategy` (`get_strategy("multiworker")`
    calls it). Idempotent; a no-op when Keras' TensorFlow trainer has changed shape.

    Keras 3.15 fails there in two places (keras-team/keras#20585, tensorflow/tensorflow#72388):
    - before the first step it reduces a whole data batch across workers, only to read its shapes: that
      cross-worker reduce of a `(images, labels)` batch raises "Attempt to convert a value (PerReplica ...)"; the
      fix reads the shapes from this worker's first replica instead;
    - every step it reduces the per-replica logs with `strategy.reduce("MEAN", v, axis=0)`, which fails for the
      scalar losses and metrics ("Invalid reduction dimension 0 for input with 0 dimensions"); the fix averages a
      scalar across the replicas (`axis=None`), the mean Keras means.
    """
    try:
        from keras.src.backend.tensorflow import trainer as tf_trainer
        from keras.src import tree
    except ImportError:  # another backend or another Keras layout
        return
    if getattr(tf_trainer, "_keras_hier_multiworker_fix", False):
        return
    needed = ("reduce_per_replica", "_collective_all_reduce_multi_worker", "TensorFlowTrainer")
    if not all(hasattr(tf_trainer, name) for name in needed) or not hasattr(
        tf_trainer.TensorFlowTrainer, "_maybe_symbolic_build"
    ):
        warnings.warn("keras_hier could not apply its MultiWorkerMirroredStrategy fix to this Keras version; "
                      "model.fit may fail under --strategy multiworker.")
        return
    import tensorflow as tf

    reduce_per_replica = tf_trainer.reduce_per_replica
    maybe_symbolic_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build

    def fixed_reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):

            def reduce(v):
                local = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
                if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                    return strategy.reduce("MEAN", v, axis=None)
                return reduce_per_replica(v, strategy, reduction)

            return tree.map_structure(reduce, values)
        return reduce_per_replica(values, strategy, reduction)

    def fixed_maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or strategy is None or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return maybe_symbolic_build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = next(batches)
            break
        local = tree.map_structure(
            lambda v: strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues)
            else v, data_batch)
        return maybe_symbolic_build(self, data_batch=local)

    tf_trainer.reduce_per_replica = fixed_reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = fixed_maybe_symbolic_build
    tf_trainer._keras_hier_multiworker_fix = True
