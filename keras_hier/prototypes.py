"""Class prototypes: the mean L2-normalised feature of each class, as long-tail transfer and few-shot methods use."""

import numpy as np

from keras_hier._validation import check_finite
from keras_hier.distribute import num_replicas


def class_prototypes(encoder, dataset, num_classes=None, normalize=True):
    """Per-class means of L2-normalised features, and the number of images behind each.

    Args:
        encoder: a Keras model (or callable) from images to features [batch, dim].
        dataset: an iterable of `(images, labels)` batches (a tf.data pipeline, `ArrayBatches`, a list), or a
            tuple `(features, labels)` of numpy arrays already encoded.
        num_classes: the number of classes C (default: the largest label + 1).
        normalize: also L2-normalise each prototype (the mean of unit vectors is shorter than 1).

    Returns:
        `(prototypes float32 [C, dim], counts int64 [C])`; a class without images gets a zero prototype and
        count 0.

    Example:
    >>> import numpy as np
    >>> protos, counts = class_prototypes(None, (np.array([[3.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([0, 1, 1])))
    >>> protos.astype(float).round(3).tolist(), counts.tolist()
    ([[1.0, 0.0], [0.383, 0.924]], [1, 2])
    """
    sums, counts = None, None
    if isinstance(dataset, tuple) and len(dataset) == 2 and not hasattr(dataset[0], "element_spec"):
        batches = [(np.asarray(dataset[0], np.float32), np.asarray(dataset[1]))]
        encode = False
    else:
        batches, encode = dataset, True
        if encoder is None:
            raise ValueError("Pass an `encoder` for a dataset of images (or give `(features, labels)` arrays).")
    def features_of(images):
        if not encode:
            return images
        if not hasattr(encoder, "predict_on_batch"):  # a plain callable
            return encoder(images)
        # Keras' predict_on_batch under a multi-replica strategy runs the whole batch on every replica and returns
        # the copies stacked (Keras 3.15); a plain call encodes each image once.
        return encoder.predict_on_batch(images) if num_replicas() == 1 else encoder(images, training=False)

    for images, labels in batches:
        features = check_finite(np.asarray(features_of(images), np.float64), "features")
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        if features.ndim != 2 or len(features) != len(labels):
            raise ValueError(f"Expected features [batch, dim] for {len(labels)} labels; got {features.shape}.")
        if labels.size and labels.min() < 0:
            raise ValueError(f"Labels must be non-negative; got {labels.min()}.")
        features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        width = max(int(labels.max()) + 1 if labels.size else 0, num_classes or 0, 0 if sums is None else len(sums))
        if sums is None:
            sums, counts = np.zeros((width, features.shape[1])), np.zeros(width, np.int64)
        elif width > len(sums):
            sums = np.concatenate([sums, np.zeros((width - len(sums), sums.shape[1]))])
            counts = np.concatenate([counts, np.zeros(width - len(counts), np.int64)])
        np.add.at(sums, labels, features)
        counts += np.bincount(labels, minlength=len(counts))
    if sums is None:
        raise ValueError("The dataset is empty: no features to average.")
    if num_classes is not None and len(sums) > num_classes:
        raise ValueError(f"Labels reach {len(sums) - 1}, outside 0..{num_classes - 1}.")
    prototypes = sums / np.maximum(counts, 1)[:, None]
    if normalize:
        prototypes = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
    return prototypes.astype(np.float32), counts
