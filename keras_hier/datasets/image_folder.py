"""Image folders named by class or WordNet id (ImageNet / ImageNet-21K layout) as tf.data pipelines."""

import os
import sys

import numpy as np

from keras_hier._validation import check_number, check_numbers
from keras_hier.datasets.splits import stratified_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".JPEG")
_SUBSETS = ("training", "validation")


def list_images(path, class_names=None):
    """The image files and labels of a folder of class folders.

    Args:
        path: folder holding one sub-folder per class (`path/<class>/*.jpg`).
        class_names: optional class folders to use, in label order (a subset is fine). Default: all
            sub-folders, sorted.

    Returns:
        `(files, labels, class_names)`: file paths (sorted within each class), int32 labels and the class
        names in label order.

    Raises:
        ValueError: for a missing folder, a missing class folder, or a class folder with no image.
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"Image folder {path!r} does not exist.")
    if class_names is None:
        class_names = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
        if not class_names:
            raise ValueError(f"{path!r} has no class sub-folders (expected {path}/<class>/<image>).")
    class_names = [str(c) for c in class_names]
    if len(set(class_names)) != len(class_names):
        dup = next(c for c in class_names if class_names.count(c) > 1)
        raise ValueError(f"Duplicate class {dup!r} in `class_names`.")
    from tqdm.auto import tqdm

    files, labels, empty = [], [], []
    listing = tqdm(class_names, desc="Listing class folders", unit="class", disable=len(class_names) < 200)
    for label, name in enumerate(listing):
        folder = os.path.join(path, name)
        if not os.path.isdir(folder):
            raise ValueError(f"Class {name!r} has no folder {folder!r}.")
        images = sorted(f for f in os.listdir(folder) if f.lower().endswith(tuple(e.lower() for e in IMAGE_EXTENSIONS)))
        if not images:
            empty.append(name)
        files.extend(os.path.join(folder, f) for f in images)
        labels.extend([label] * len(images))
    if empty:
        raise ValueError(
            f"Empty class folder(s) {empty[:10]} in {path!r}: every class needs at least one image "
            f"({', '.join(IMAGE_EXTENSIONS)}). Add images, or remove the folders (or leave them out of `class_names`)."
        )
    return files, np.asarray(labels, np.int32), class_names


def load(
    path,
    class_names=None,
    image_size=(224, 224),
    batch_size=32,
    shuffle=True,
    seed=0,
    validation_split=None,
    subset=None,
    channels=3,
    on_error="raise",
):
    """A tf.data pipeline of `(images, labels)` from `path/<class>/<image>` folders.

    Class folders may be class names or WordNet ids (`n02084071`, as ImageNet and ImageNet-21K use); pass
    `class_names` (e.g. `hierarchy.leaves`) to fix the label order or take a subset of the folders. Images
    are decoded, resized to `image_size` and scaled to float32 in [0, 1].

    Args:
        path: the root folder.
        class_names: optional class folders in label order; default all sub-folders, sorted.
        image_size: `(height, width)` after resizing.
        batch_size: images per batch (None for unbatched).
        shuffle: shuffle the files (each pass, deterministically from `seed`; see `pipeline.example_indices`).
        seed: seed of the shuffle and of the validation split.
        validation_split: optional fraction of each class held out.
        subset: `"training"` or `"validation"` when `validation_split` is set.
        channels: 3 (RGB) or 1 (grey).
        on_error: what a corrupt or truncated image does (see `files_dataset`): `"raise"` or `"skip"`.

    Returns:
        `(dataset, class_names)`.

    Example:
    >>> ds, names = load("imagenet21k/train", class_names=["n02084071", "n02121808"])  # doctest: +SKIP
    """
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ValueError(f"`validation_split` must be in (0, 1); got {validation_split}.")
        if subset not in _SUBSETS:
            raise ValueError(f"With `validation_split`, `subset` must be one of {_SUBSETS}; got {subset!r}.")
    elif subset is not None:
        raise ValueError("`subset` needs `validation_split`.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    files, labels, class_names = list_images(path, class_names)
    if validation_split is not None:
        train, val = stratified_split(labels, validation_split, seed)
        idx = val if subset == "validation" else train
        if not len(idx):
            raise ValueError(f"`validation_split={validation_split}` leaves no {subset} image ({len(labels)} images "
                             f"in {len(class_names)} classes): use a split closer to 0.5 or more images.")
        files, labels = [files[i] for i in idx], labels[idx]
    return files_dataset(files, labels, image_size, batch_size, shuffle, seed, channels, on_error=on_error), \
        class_names


def files_dataset(files, labels, image_size=(224, 224), batch_size=32, shuffle=True, seed=0, channels=3,
                  sampling="instance", repeat=False, on_error="raise", first_batch=0):
    """A tf.data pipeline of `(images, labels)` from image files: decoded, resized to `image_size`, float32
    in [0, 1].

    Each file is checked before decoding: a JPEG, PNG, GIF or BMP signature, and for JPEG and PNG their end
    marker, for BMP its declared size (what a truncated copy lacks). A file that fails the check stops the
    iteration with an `InvalidArgumentError` that names it (`on_error="raise"`), or is left out with a warning on
    stderr naming it (`on_error="skip"`, which also drops files the decoder refuses).

    Args:
        files: image file paths.
        labels: their int labels.
        image_size: `(height, width)` after resizing.
        batch_size: images per batch (None for unbatched).
        shuffle: shuffle the files (each pass, deterministically from `seed`; see `pipeline.example_indices`).
        seed: seed of the shuffle.
        channels: 3 (RGB) or 1 (grey).
        sampling: `"instance"`, `"sqrt"` or `"class_balanced"` class-aware drawing (see
            `pipeline.make_dataset`; an epoch is then `len(files)` draws with replacement).
        repeat: repeat forever.
        on_error: `"raise"` or `"skip"` for a corrupt or truncated file.
        first_batch: with `repeat=True`, the batch the stream starts at, as `pipeline.make_dataset`'s (to resume
            a run; with `on_error="skip"` the position counts the files before any is skipped).

    Example:
    >>> ds = files_dataset(["a.jpg", "b.png"], [0, 1], image_size=(64, 64))  # doctest: +SKIP
    """
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    if on_error not in ("raise", "skip"):
        raise ValueError(f"`on_error` must be 'raise' or 'skip'; got {on_error!r}.")
    files = [os.fspath(f) for f in files]
    labels = np.asarray(labels).reshape(-1)
    if len(files) != len(labels):
        raise ValueError(f"Got {len(files)} files but {len(labels)} labels.")
    if not files:
        raise ValueError("No image files to read.")
    if not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
        bad = int(np.flatnonzero(labels < 0)[0]) if np.issubdtype(labels.dtype, np.integer) else 0
        raise ValueError(f"`labels` must be non-negative integer class ids; got {labels[bad].item()!r} for "
                         f"{files[bad]}.")
    labels = labels.astype(np.int32)
    height, width = (int(v) for v in check_numbers(image_size, "image_size", length=2, low=1, integer=True))
    if channels not in (1, 3, 4):
        raise ValueError(f"`channels` must be 1 (grey), 3 (RGB) or 4 (RGBA); got {channels!r}.")
    if batch_size is not None:
        check_number(batch_size, "batch_size", low=1, integer=True)

    def load_file(file, label):
        data = tf.io.read_file(file)
        return file, data, label, _looks_complete(data)

    def keep(file, data, label, complete):
        skipped = tf.cond(complete, tf.no_op,
                          lambda: tf.print("keras_hier: skipping corrupt or truncated image", file,
                                           output_stream=sys.stderr))
        with tf.control_dependencies([skipped]):
            return tf.identity(complete)

    def read(file, data, label, complete):
        checks = [] if on_error == "skip" else [tf.debugging.Assert(complete, [
            "Image file", file, "is corrupt or truncated (or not a JPEG, PNG, GIF or BMP): replace or remove it, or "
            "pass on_error='skip'."])]
        with tf.control_dependencies(checks):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width)) / 255.0
        image.set_shape((height, width, channels))
        return image, label

    from keras_hier.datasets.pipeline import example_indices
    from keras_hier.datasets.prefetch import prefetched

    all_files, all_labels = tf.constant(files), tf.constant(labels)
    if first_batch < 0 or (first_batch and not repeat):
        raise ValueError(f"`first_batch` must be 0, or at least 0 with `repeat=True`; got {first_batch}.")
    ds = example_indices(labels, sampling=sampling, shuffle=shuffle, seed=seed, repeat=repeat,
                         first=int(first_batch) * (batch_size or 1))
    ds = ds.map(lambda key, i: (all_files[i], all_labels[i]))
    ds = ds.map(load_file, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if on_error == "skip":
        ds = ds.filter(keep)
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if on_error == "skip":  # what the checks cannot see (damage inside a complete file): the decoder's refusal
        ds = ds.ignore_errors(log_warning=True)
    if batch_size:
        ds = ds.batch(batch_size)
    return prefetched(ds)


def _contains(haystack, needle):
    """Whether the uint8 vector `haystack` contains the byte sequence `needle` (a short bytes)."""
    import tensorflow as tf

    n = len(needle)
    size = tf.shape(haystack)[0] - n + 1
    if_found = tf.ones([tf.maximum(size, 0)], tf.bool)
    for i, byte in enumerate(needle):
        if_found = tf.logical_and(if_found, tf.equal(haystack[i : i + tf.maximum(size, 0)], byte))
    return tf.reduce_any(if_found)


def _looks_complete(data):
    """Whether the encoded image `data` (a scalar tf.string) has a known signature and, where the format has one,
    its end: JPEG's EOI marker or PNG's IEND chunk in the last KiB (trailing bytes after them are allowed), GIF's
    trailer byte, BMP's declared file size."""
    import tensorflow as tf

    length = tf.strings.length(data)
    head = tf.io.decode_raw(tf.strings.substr(tf.strings.join([data, b"\0" * 8]), 0, 8), tf.uint8)
    tail = tf.io.decode_raw(tf.strings.substr(data, tf.maximum(length - 1024, 0), 1024), tf.uint8)

    def starts(signature):
        return tf.reduce_all(tf.equal(head[: len(signature)], list(signature)))

    bmp_size = tf.reduce_sum(tf.cast(head[2:6], tf.int32) * [1, 256, 65536, 16777216])
    return tf.logical_or(tf.logical_or(
        tf.logical_and(starts(b"\xff\xd8\xff"), _contains(tail, b"\xff\xd9")),
        tf.logical_and(starts(b"\x89PNG\r\n\x1a\n"), _contains(tail, b"IEND"))), tf.logical_or(
        tf.logical_and(starts(b"GIF8"), _contains(tail[-1:], b";")),
        tf.logical_and(starts(b"BM"), bmp_size <= length)))
