"""`prefetched`: the last step of every keras_hier tf.data pipeline; `array_batches_dataset`: arrays as such a
pipeline, for `predict`.

Why not a bare `ds.prefetch(tf.data.AUTOTUNE)`: with tf.data's autotuning on (its default), every iterator starts
a model thread that re-tunes the pipeline at periods doubling up to 60 s, and in TensorFlow 2.21 freeing an
iterator that sat idle waits for that thread's current period to end. Keras' epoch iterators live in reference
cycles, so the wait lands inside whatever garbage collection frees them: measured here, a `gc.collect()` after one
tiny recipe run took 7-18 s in half the runs (0.3 s of CPU), and the test suite lost 30-66 s per worker to it.
With the tuning model off, `num_parallel_calls=tf.data.AUTOTUNE` resolves to TensorFlow's default parallelism
(the CPU count, at most 16) and `prefetch(AUTOTUNE)` keeps its own buffer autotuner: the same throughput on this
2-core machine (113-117 vs 108-114 batches/s, a map-heavy pipeline) and no stall.
"""


def prefetched(ds):
    """`ds.prefetch(tf.data.AUTOTUNE)`, with tf.data's autotuning model switched off (see the module's
    docstring: freeing an idle iterator otherwise blocks for up to a minute in TensorFlow 2.21).

    Args:
        ds: a `tf.data.Dataset`.

    Returns:
        The prefetching `tf.data.Dataset`.

    Example:
    >>> import tensorflow as tf
    >>> ds = prefetched(tf.data.Dataset.range(3).batch(2))
    >>> [b.numpy().tolist() for b in ds], ds.options().autotune.enabled
    ([[0, 1], [2]], False)
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(tf.data.AUTOTUNE).with_options(options)


def array_batches_dataset(array, batch_size):
    """The rows of `array` in order, in batches of `batch_size`, as a `prefetched` dataset: what
    `model.predict(array, batch_size=...)` reads, without the stall of Keras' own array pipeline.

    Args:
        array: a numpy array (or a tuple of arrays of equal length).
        batch_size: rows per batch.

    Returns:
        A `tf.data.Dataset`.

    Example:
    >>> import numpy as np
    >>> [tuple(b.shape) for b in array_batches_dataset(np.zeros((5, 3)), 2)]
    [(2, 3), (2, 3), (1, 3)]
    """
    import tensorflow as tf

    return prefetched(tf.data.Dataset.from_tensor_slices(array).batch(int(batch_size)))
