"""Image folders named by class or WordNet id (ImageNet / ImageNet-21K layout) as tf.data pipelines."""

import os

import numpy as np

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
        shuffle: shuffle the files (each epoch, deterministically from `seed`).
        seed: seed of the shuffle and of the validation split.
        validation_split: optional fraction of each class held out.
        subset: `"training"` or `"validation"` when `validation_split` is set.
        channels: 3 (RGB) or 1 (grey).

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
        files, labels = [files[i] for i in idx], labels[idx]
    return files_dataset(files, labels, image_size, batch_size, shuffle, seed, channels), class_names


def files_dataset(files, labels, image_size=(224, 224), batch_size=32, shuffle=True, seed=0, channels=3,
                  sampling="instance", repeat=False):
    """A tf.data pipeline of `(images, labels)` from image files: decoded, resized to `image_size`, float32
    in [0, 1].

    Args:
        files: image file paths.
        labels: their int labels.
        image_size: `(height, width)` after resizing.
        batch_size: images per batch (None for unbatched).
        shuffle: shuffle the files (each epoch, deterministically from `seed`).
        seed: seed of the shuffle.
        channels: 3 (RGB) or 1 (grey).
        sampling: `"instance"`, `"sqrt"` or `"class_balanced"` class-aware drawing (see
            `pipeline.make_dataset`; an epoch is then `len(files)` draws with replacement).
        repeat: repeat forever.

    Example:
    >>> ds = files_dataset(["a.jpg", "b.png"], [0, 1], image_size=(64, 64))  # doctest: +SKIP
    """
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    files = [os.fspath(f) for f in files]
    labels = np.asarray(labels, np.int32).reshape(-1)
    if len(files) != len(labels):
        raise ValueError(f"Got {len(files)} files but {len(labels)} labels.")
    if not files:
        raise ValueError("No image files to read.")
    height, width = (int(v) for v in image_size)

    def read(file, label):
        image = tf.io.decode_image(tf.io.read_file(file), channels=channels, expand_animations=False)
        image = tf.image.resize(tf.cast(image, tf.float32), (height, width)) / 255.0
        image.set_shape((height, width, channels))
        return image, label

    if sampling != "instance":
        from keras_hier.datasets.pipeline import class_aware_indices

        all_files, all_labels = tf.constant(files), tf.constant(labels)
        ds = class_aware_indices(labels, sampling, seed).map(lambda i: (all_files[i], all_labels[i]))
        if not repeat:
            ds = ds.take(len(files))
    else:
        ds = tf.data.Dataset.from_tensor_slices((files, labels))
        if shuffle:
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        if repeat:
            ds = ds.repeat()
    ds = ds.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)
