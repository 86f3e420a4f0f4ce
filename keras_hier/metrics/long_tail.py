"""Long-tail accuracy by shot group (OLTR's protocol): many-shot (> 100 training images), medium-shot (20-100) and
few-shot (< 20) classes, each the mean of its classes' accuracies, and the total top-1 accuracy."""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_finite, nan_unless_finite

GROUPS = ("many", "medium", "few", "total")


def _group_masks(train_counts):
    from keras_hier.datasets.long_tail import shot_groups

    counts = np.asarray(train_counts).reshape(-1)
    groups = shot_groups(counts)
    masks = {g: np.isin(np.arange(len(counts)), groups[g]) for g in ("many", "medium", "few")}
    masks["total"] = np.ones(len(counts), bool)
    return masks


def shot_accuracies(y_true, y_pred, train_counts):
    """Accuracy on the many-, medium- and few-shot classes and in total.

    Args:
        y_true: int labels [N].
        y_pred: predicted labels [N], or scores [N, C] (argmax taken).
        train_counts: training images per class [C].

    Returns:
        dict `many`, `medium`, `few` (mean of the group's per-class accuracies; NaN for a group with no class
        in the test labels) and `total` (top-1 over all test images), plus `classes`: the group sizes.

    Example:
    >>> r = shot_accuracies([0, 0, 1, 2], [0, 1, 1, 0], train_counts=[500, 50, 5])
    >>> r["many"], r["medium"], r["few"], r["total"]
    (0.5, 1.0, 0.0, 0.5)
    """
    y_true = np.asarray(y_true).reshape(-1).astype(np.int64)
    y_pred = check_finite(y_pred, "y_pred")
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    y_pred = y_pred.reshape(-1)
    if len(y_pred) != len(y_true):
        raise ValueError(f"{len(y_true)} labels but {len(y_pred)} predictions.")
    masks = _group_masks(train_counts)
    num_classes = len(masks["total"])
    if y_true.size and (y_true.min() < 0 or y_true.max() >= num_classes):
        raise ValueError(f"Labels must be in 0..{num_classes - 1} (one training count per class).")
    correct = np.bincount(y_true, weights=(y_true == y_pred).astype(float), minlength=num_classes)
    seen = np.bincount(y_true, minlength=num_classes)
    per_class = np.where(seen > 0, correct / np.maximum(seen, 1), np.nan)
    out = {}
    for g in ("many", "medium", "few"):
        values = per_class[masks[g] & (seen > 0)]
        out[g] = float(values.mean()) if values.size else float("nan")
    out["total"] = float((y_true == y_pred).mean()) if y_true.size else float("nan")
    out["classes"] = {g: int(masks[g].sum()) for g in ("many", "medium", "few")}
    return out


@keras.saving.register_keras_serializable(package="keras_hier")
class ShotGroupAccuracy(keras.metrics.Metric):
    """Accuracy of one shot group as a Keras metric: per-class correct / seen counts accumulated over batches,
    then the mean per-class accuracy of the group's classes (`"total"`: top-1 over all images).

    Args:
        train_counts: training images per class [C].
        group: `"many"`, `"medium"`, `"few"` or `"total"`.
        name: metric name (default `<group>_shot_accuracy`).

    Example:
    >>> m = ShotGroupAccuracy([500, 50, 5], group="few")
    >>> m.update_state([2, 2, 0], [[0.1, 0.2, 0.7], [0.9, 0.0, 0.1], [1.0, 0.0, 0.0]])
    >>> float(m.result())
    0.5
    """

    def __init__(self, train_counts, group="few", name=None, **kwargs):
        if group not in GROUPS:
            raise ValueError(f"Unknown group {group!r}: use one of {GROUPS}.")
        super().__init__(name=name or f"{group}_shot_accuracy", **kwargs)
        self.train_counts = [int(c) for c in np.asarray(train_counts).reshape(-1)]
        self.group = group
        self._mask = _group_masks(self.train_counts)[group].astype(np.float32)
        n = len(self.train_counts)
        self.correct = self.add_variable((n,), initializer="zeros", name="correct")
        self.seen = self.add_variable((n,), initializer="zeros", name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels), "float32")
        n = len(self.train_counts)
        # NaN scores make the result NaN, not an accuracy computed over them.
        self.correct.assign_add(ops.segment_sum(hits, labels, num_segments=n) + nan_unless_finite(y_pred))
        self.seen.assign_add(ops.segment_sum(ops.ones_like(hits), labels, num_segments=n))

    def result(self):
        nan = nan_unless_finite(self.correct)  # scores that held NaN: a NaN result
        if self.group == "total":
            return ops.divide_no_nan(ops.sum(self.correct), ops.sum(self.seen)) + nan
        present = ops.cast(self.seen > 0, "float32") * self._mask
        per_class = ops.divide_no_nan(self.correct, self.seen)
        return ops.divide_no_nan(ops.sum(per_class * present), ops.sum(present)) + nan

    def get_config(self):
        return {**super().get_config(), "train_counts": self.train_counts, "group": self.group}
