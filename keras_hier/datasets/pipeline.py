"""`make_dataset`: numpy images and labels to a normalised, optionally augmented, batched tf.data pipeline;
`make_batches`: the same for any Keras backend (tf.data under TensorFlow, else `ArrayBatches`)."""

import numpy as np

from keras_hier._validation import check_numbers

_NORMALIZE = ("unit", "standardize", "none")
PER_CHANNEL = "one per channel, or one for all"
# Class-aware sampling: class c is drawn with probability proportional to n_c ** q.
SAMPLING = {"instance": 1.0, "sqrt": 0.5, "class_balanced": 0.0}


def hiernet_augmentation(seed=None, fill_value=0.5):
    """The HierNet paper's augmentation as Keras layers: random horizontal flips and random translations of
    up to 12.5 % of the height and width, the uncovered border filled with grey.

    Args:
        seed: optional seed of both layers.
        fill_value: the fill colour in the images' scale (0.5 = mid grey for images in [0, 1]).

    Returns:
        A list of Keras preprocessing layers.
    """
    import keras

    return [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomTranslation(0.125, 0.125, fill_mode="constant", fill_value=fill_value, seed=seed),
    ]


def image_scale(images, normalize="unit"):
    """The factor that brings `images` to [0, 1], by one rule for training and serving: integer images (uint8,
    uint16, int32, ...) hold 0..255 and are divided by 255 (as the SavedModels of `keras_hier.export` divide their
    uint8 inputs); float images are taken as already in [0, 1]. Anything else is a ValueError that names the fix:
    non-numeric arrays, NaN or infinite values, integers outside 0..255, floats outside [0, 1] (unless
    `normalize="none"`, which keeps any float scale and returns 1).

    Args:
        images: a numpy array of images.
        normalize: `"unit"`, `"standardize"` or `"none"` (see `make_dataset`).

    Example:
    >>> image_scale(np.full((1, 2, 2), 255, np.int32)), image_scale(np.ones((1, 2, 2), np.float64))
    (0.00392156862745098, 1.0)
    """
    images = np.asarray(images)
    if images.dtype == bool or not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype,
                                                                                                np.floating)):
        raise ValueError(f"`images` must be a numeric array (integers in 0..255 or floats in [0, 1]); got dtype "
                         f"{images.dtype}. Decode or convert them first.")
    if images.size == 0:
        return 1.0
    if np.issubdtype(images.dtype, np.integer):
        low, high = int(images.min()), int(images.max())
        if normalize != "none" and (low < 0 or high > 255):
            raise ValueError(f"Integer images must hold 8-bit values 0..255; these span {low}..{high}. Convert "
                             "them to floats in [0, 1] yourself (e.g. 16-bit: divide by 65535).")
        return 1.0 if normalize == "none" else 1.0 / 255.0
    finite = np.isfinite(images)
    if not finite.all():
        first = np.unravel_index(int(np.flatnonzero(~finite.reshape(-1))[0]), images.shape)
        raise ValueError(f"`images` hold {int((~finite).sum())} NaN or infinite values (the first in image "
                         f"{int(first[0])}); fix or drop those images.")
    low, high = float(images.min()), float(images.max())
    if normalize != "none" and (low < -1e-6 or high > 1 + 1e-6):
        hint = " divide them by 255 (or pass them as uint8)" if high <= 255 + 1e-6 and low >= 0 else \
            " rescale them to [0, 1]"
        raise ValueError(f"Float images must be in [0, 1]; these span {low:g}..{high:g}:{hint}, or pass "
                         "normalize='none' to use them as they are.")
    return 1.0


def _checked_arrays(images, labels, num_classes, normalize, mean, std, augment, seed):
    """Validated `images` [N, H, W, C] and `labels` [N], and the normalisation (scale, mean, std) and
    augmentation layers that `make_dataset` and `ArrayBatches` apply (mean and std None unless standardising);
    ValueError names bad input."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(
            f"`images` must have shape [N, H, W] or [N, H, W, C]; got {images.shape}. Reshape flat images "
            "to [N, H, W] first."
        )
    labels = labels.reshape(-1) if labels.ndim == 2 and labels.shape[1] == 1 else labels
    if len(images) == 0:
        raise ValueError("No images: `images` is empty.")
    if labels.ndim == 2:  # multi-label: one 0/1 row per image
        if len(labels) != len(images):
            raise ValueError(f"`labels` must have {len(images)} rows to match the images; got {labels.shape}.")
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("Multi-label `labels` [N, C] must hold 0 / 1 values.")
        if num_classes is not None and labels.shape[1] != num_classes:
            raise ValueError(f"Multi-label `labels` have {labels.shape[1]} columns, not num_classes={num_classes}.")
        labels = labels.astype(np.float32)
    elif labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"`labels` must have shape [{len(images)}] to match the images; got {labels.shape}.")
    elif not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
    else:
        bad = labels < 0 if num_classes is None else (labels < 0) | (labels >= num_classes)
        if bad.any():
            top = "" if num_classes is None else f"..{num_classes - 1}"
            raise ValueError(
                f"Label {int(labels[bad][0])} (at index {int(np.flatnonzero(bad)[0])}) is outside the class range "
                f"0{top}."
            )
    if normalize not in _NORMALIZE:
        raise ValueError(f"Unknown `normalize` {normalize!r}: use one of {_NORMALIZE}.")

    scale = image_scale(images, normalize)
    if normalize == "standardize":
        channels = images.shape[-1]
        sample = images[:: max(1, len(images) // 10000)].astype(np.float64) * scale if mean is None or std is None \
            else None
        # Given: one finite value per channel (or one for all), std positive. Computed: a constant channel's std 0
        # becomes 1e-7.
        mean = sample.mean(axis=(0, 1, 2)) if mean is None else check_numbers(
            mean, "mean", length=(1, channels), what=PER_CHANNEL)
        std = np.maximum(sample.std(axis=(0, 1, 2)), 1e-7) if std is None else check_numbers(
            std, "std", length=(1, channels), what=PER_CHANNEL, low=0, low_open=True)
        mean, std = np.asarray(mean, np.float32).reshape(-1), np.asarray(std, np.float32).reshape(-1)
    else:
        mean = std = None
    if isinstance(augment, str):
        if augment != "hiernet":
            raise ValueError(f"Unknown `augment` {augment!r}: use 'hiernet' or a list of Keras layers.")
        augment = hiernet_augmentation(seed=seed, fill_value=0.5 if normalize == "unit" else 0.0)
    augment = list(augment or [])
    return images, labels, scale, mean, std, augment


def make_dataset(
    images,
    labels,
    batch_size=128,
    num_classes=None,
    normalize="unit",
    mean=None,
    std=None,
    augment=None,
    shuffle=False,
    seed=0,
    drop_remainder=False,
    repeat=False,
    sampling="instance",
    first_batch=0,
):
    """A tf.data pipeline of `(images, labels)` from numpy arrays, ready for `model.fit`.

    Images of shape [N, H, W] get a channel axis. Batches are float32 images and int32 labels. The
    pipeline is deterministic for a given `seed`: the same shuffling and augmentation on every run.

    With `repeat=True` the stream is a pure function of `seed` and the position in it: pass k over the data is
    shuffled (or drawn) with the stateless seed `(seed, k)`, and batch b is augmented with draws seeded by `b`
    (`augmentation_seeds`), whatever was read before. `first_batch` starts the stream at batch b as if the
    batches before it had been read, without reading them: an interrupted `fit` resumed at epoch e with
    `first_batch=e * steps_per_epoch` sees exactly the batches of an uninterrupted run (recipes' `--resume`). A
    finite pipeline (`repeat=False`) draws a new random key for each pass (each `fit` epoch) instead.

    Args:
        images: array [N, H, W] or [N, H, W, C]: integers in 0..255 (any integer dtype) or floats in [0, 1]
            (see `image_scale`; checked here, before any batch is drawn).
        labels: int array [N] of class ids, or a 0/1 array [N, C] of multi-labels (batched as float32).
        batch_size: images per batch.
        num_classes: optional number of classes; labels outside 0..num_classes-1 raise ValueError.
        normalize: `"unit"` (integer images divided by 255 to [0, 1]), `"standardize"` (then subtract `mean`
            and divide by `std`, per channel; computed from `images` when not given) or `"none"`.
        mean: optional per-channel mean for `"standardize"` (in the [0, 1] scale).
        std: optional per-channel standard deviation for `"standardize"`.
        augment: optional Keras preprocessing layers (a list, or `"hiernet"` for `hiernet_augmentation`)
            applied to each batch after normalisation. Their random draws are reseeded for each batch (see
            `augmentation_seeds`), so they do not depend on how far an earlier reader got.
        shuffle: shuffle the examples, differently each pass.
        seed: seed of the shuffle, the class-aware draws and the augmentation.
        drop_remainder: drop the last incomplete batch.
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`); batches run on across passes.
        sampling: how examples are drawn (long-tail training): `"instance"` walks the data (every image once
            per pass, shuffled with `shuffle`); `"sqrt"` and `"class_balanced"` draw each example with
            replacement, class c with probability proportional to sqrt(n_c) or uniform over classes, then an
            image of c uniformly. A pass is then `len(images)` draws, new ones each pass, deterministic for
            `seed`.
        first_batch: with `repeat=True`, the batch the stream starts at (0: the beginning).

    Returns:
        A `tf.data.Dataset`.

    Example:
    >>> x = np.zeros((10, 28, 28), np.uint8)
    >>> y = np.arange(10)
    >>> ds = make_dataset(x, y, batch_size=4, augment="hiernet", shuffle=True, seed=1)
    >>> images, labels = next(iter(ds))
    >>> tuple(images.shape), images.dtype.name, labels.dtype.name
    ((4, 28, 28, 1), 'float32', 'int32')
    >>> stream = make_dataset(x, y, batch_size=4, shuffle=True, repeat=True)
    >>> later = make_dataset(x, y, batch_size=4, shuffle=True, repeat=True, first_batch=3)
    >>> [int(v) for v in list(stream.take(4))[3][1]] == [int(v) for v in next(iter(later))[1]]
    True
    """
    import tensorflow as tf

    from keras_hier.datasets.prefetch import prefetched

    images, labels, scale, mean, std, augment = _checked_arrays(
        images, labels, num_classes, normalize, mean, std, augment, seed
    )
    if sampling not in SAMPLING:
        raise ValueError(f"Unknown `sampling` {sampling!r}: use one of {tuple(SAMPLING)}.")
    if sampling != "instance" and labels.ndim != 1:
        raise ValueError("Class-aware `sampling` needs int class labels, not multi-label rows.")
    first_batch = int(first_batch)
    if first_batch < 0 or (first_batch and not repeat):
        raise ValueError(f"`first_batch` must be 0, or at least 0 with `repeat=True`; got {first_batch}.")

    all_images = tf.constant(images)
    all_labels = tf.constant(labels.astype(np.float32) if labels.ndim == 2 else labels.astype(np.int32))
    ds = example_indices(labels, sampling=sampling, shuffle=shuffle, seed=seed, repeat=repeat,
                         first=first_batch * batch_size)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def prepare(key, index):
        x = tf.cast(tf.gather(all_images, index), tf.float32) * scale
        if std is not None:
            x = (x - mean) / std
        y = tf.gather(all_labels, index)
        return (key[0], x, y) if augment else (x, y)  # the pass key seeds the augmentation

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment:
        reseed = augmentation_seeds(augment, seed)

        def augment_batch(position, batch):
            key, x, y = batch
            reseed(key, position)
            for layer in augment:
                x = layer(x, training=True)
            return x, y

        # Keras' random layers draw from a seed state that every call advances, so they run in sequence, each batch
        # after its state was set from the batch's position (cheap next to a training step).
        ds = ds.enumerate(first_batch).map(augment_batch)
    return prefetched(ds)


def example_indices(labels, sampling="instance", shuffle=False, seed=0, repeat=False, first=0):
    """The order in which `make_dataset` reads its examples: a tf.data stream of `(key, index)` pairs, `key` the
    random key of the pass over the data that `index` (int64) belongs to.

    Pass k (`len(labels)` examples) is a stateless function of `(seed, k)`: every index once, in order or
    shuffled (`sampling="instance"`), or draws with replacement, a class with the probabilities of `sampling`
    (`class_probabilities`), then one of its examples uniformly. With `repeat`, passes k = 0, 1, 2, ... follow
    each other and the stream starts at example `first` (computed, not read: cheap for any `first`), and `key` is
    0; without, there is one pass per iteration, keyed by a new random draw each time (deterministic for `seed`).

    Args:
        labels: the class labels [N] (or multi-label rows [N, C], for `"instance"` only).
        sampling: `"instance"`, `"sqrt"` or `"class_balanced"`.
        shuffle: shuffle each pass (`"instance"`).
        seed: seed of the passes.
        repeat: endless, pass after pass.
        first: with `repeat`, the position of the first example.
    """
    import tensorflow as tf

    labels = np.asarray(labels)
    n = len(labels)
    seed = int(seed)
    if sampling == "instance":
        def one_pass(key):
            order = tf.range(n, dtype=tf.int64)
            if shuffle:
                order = tf.random.experimental.stateless_shuffle(order, seed=tf.stack([tf.constant(seed, tf.int64),
                                                                                       key]))
            return order
    else:
        draw = _class_draws(labels, sampling)

        def one_pass(key):
            return draw(tf.stack([tf.constant(seed, tf.int64), key]), n)

    if repeat:
        passes = tf.data.Dataset.range(first // n, np.iinfo(np.int64).max)
        ds = passes.flat_map(lambda k: tf.data.Dataset.from_tensor_slices(one_pass(k)))
        ds = ds.apply(tf.data.experimental.assert_cardinality(tf.data.INFINITE_CARDINALITY))
        return ds.skip(first % n).map(lambda i: (tf.constant(0, tf.int64), i))
    keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    ds = keys.flat_map(lambda k: tf.data.Dataset.from_tensor_slices(one_pass(k)).map(lambda i: (k, i)))
    return ds.apply(tf.data.experimental.assert_cardinality(n))  # known length: Keras' progress bars show it


def augmentation_seeds(layers, seed=0):
    """A function `reseed(key, position)` that sets the seed states of every `keras.random.SeedGenerator` in
    `layers` to a stateless function of its own seed, `seed`, `key` and `position` (tensors, inside a tf.data
    map): the draws of a batch then depend on where it is in the stream, not on how many batches were augmented
    before (a resumed run, or a reader that prefetched further, gets the same images), and two layers given the
    same seed no longer draw the same numbers.
    """
    import tensorflow as tf

    generators = []
    for layer in layers:
        for sub in layer._flatten_layers(include_self=True, recursive=True):
            generators += [g for g in getattr(sub, "_seed_generators", []) if g not in generators]
    starts = [tf.constant(np.asarray(g.state.numpy(), np.int64)) for g in generators]

    def reseed(key, position):
        position = tf.cast(position, tf.int64)
        for i, (generator, start) in enumerate(zip(generators, starts)):
            state = tf.random.experimental.stateless_fold_in(start, i)
            state = tf.random.experimental.stateless_fold_in(state, int(seed))
            state = tf.random.experimental.stateless_fold_in(state, tf.cast(key, tf.int64))
            state = tf.random.experimental.stateless_fold_in(state, position)
            generator.state.assign(tf.cast(state, generator.state.dtype))

    return reseed


def class_probabilities(labels, sampling):
    """The probability of drawing each class under `sampling` (see `make_dataset`): float64 [C]."""
    if sampling not in SAMPLING:
        raise ValueError(f"Unknown `sampling` {sampling!r}: use one of {tuple(SAMPLING)}.")
    counts = np.bincount(np.asarray(labels).reshape(-1)).astype(np.float64)
    weights = np.where(counts > 0, counts ** SAMPLING[sampling], 0.0)
    return weights / weights.sum()


def _class_draws(labels, sampling):
    """`draw(seed, count)`: `count` example indices drawn with replacement under `sampling` (a class, then one of
    its examples uniformly), a stateless function of the int64 `seed` pair."""
    import tensorflow as tf

    counts = np.bincount(labels)
    classes = np.flatnonzero(counts)
    log_p = tf.constant(np.log(class_probabilities(labels, sampling)[classes])[None], tf.float32)
    sizes = tf.constant(counts[classes], tf.int64)
    starts = tf.constant(np.concatenate([[0], np.cumsum(counts)])[classes], tf.int64)
    order = tf.constant(np.argsort(labels, kind="stable"), tf.int64)

    def draw(seed, count):
        picks = tf.random.stateless_categorical(log_p, count, seed=seed, dtype=tf.int32)[0]
        within = tf.random.stateless_uniform([count], seed=tf.random.experimental.stateless_fold_in(seed, 1),
                                             dtype=tf.float32)
        within = tf.minimum(tf.cast(within * tf.cast(tf.gather(sizes, picks), tf.float32), tf.int64),
                            tf.gather(sizes, picks) - 1)
        return tf.gather(order, tf.gather(starts, picks) + within)

    return draw


def make_batches(images, labels, **kwargs):
    """`make_dataset` under Keras' TensorFlow backend; an `ArrayBatches` (a `keras.utils.PyDataset` with
    the same batches, no TensorFlow needed) under JAX or PyTorch. Both feed `model.fit` the same way.

    Args:
        images: array [N, H, W] or [N, H, W, C].
        labels: int array [N] of class ids.
        **kwargs: the keyword arguments of `make_dataset`.

    Returns:
        A `tf.data.Dataset` or an `ArrayBatches`.

    Example:
    >>> ds = make_batches(np.zeros((6, 8, 8), np.uint8), np.arange(6), batch_size=4)
    >>> [tuple(x.shape) for x, _ in ds]
    [(4, 8, 8, 1), (2, 8, 8, 1)]
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return make_dataset(images, labels, **kwargs)
    from keras_hier.datasets.array_batches import ArrayBatches

    return ArrayBatches(images, labels, **kwargs)
