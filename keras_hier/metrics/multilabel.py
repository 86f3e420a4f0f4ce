"""Multi-label ranking metrics: mAP (per class, label-centric) and miAP (per image, image-centric).

Average precision of a ranking is the mean, over the positives, of the precision at their rank; scores that
tie count as one threshold, as scikit-learn's `average_precision_score` computes it. mAP averages it over
classes (each ranks all images), miAP over images (each ranks its candidate labels, Fast0Tag's MiAP). A class
with no positive image, or an image with no positive label, has no AP: it is skipped and counted (the
official code counted such a class as 1.0 and also dropped images whose iAP was exactly 1).
"""

import keras
import numpy as np
from keras import ops

from keras_hier._validation import check_finite, nan_unless_finite


def average_precision(y_true, y_score):
    """AP of each column of `y_score` ranked against the 0/1 `y_true` column (scikit-learn's
    `average_precision_score`): float64 [C], NaN where a column has no positive.

    Example:
    >>> average_precision([[1], [0], [1]], [[0.9], [0.8], [0.4]]).round(4).tolist()
    [0.8333]
    """
    from sklearn.metrics import average_precision_score

    y_true, y_score = _checked(y_true, y_score)
    return np.array([average_precision_score(y_true[:, c], y_score[:, c]) if y_true[:, c].any() else np.nan
                     for c in range(y_true.shape[1])])


def image_average_precision(y_true, y_score, chunk=1024):
    """AP of each row of `y_score` ranked against the 0/1 `y_true` row: float64 [N], NaN where a row has no
    positive. Equal to scikit-learn's `average_precision_score` per row, vectorised: the AP is the mean over
    the positives j of the precision among the labels scored at least as high as j (ties count together).
    """
    y_true, y_score = _checked(y_true, y_score)
    out = np.empty(len(y_true))
    for start in range(0, len(y_true), chunk):
        t, s = y_true[start : start + chunk], y_score[start : start + chunk]
        at_least = s[:, None, :] >= s[:, :, None]  # [rows, j, i]: label i scores at least as high as label j
        precision = (at_least * t[:, None, :]).sum(-1) / at_least.sum(-1)
        positives = t.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + chunk] = np.where(positives > 0, (precision * t).sum(1) / positives, np.nan)
    return out


def mean_average_precision(y_true, y_score, classes=None, return_skipped=False):
    """mAP: the mean AP of the classes (columns), each ranking every image.

    Args:
        y_true: 0/1 array [images, classes].
        y_score: scores (logits or probabilities) of the same shape.
        classes: optional column indices to evaluate (e.g. the unseen labels); default all.
        return_skipped: also return how many classes had no positive and were skipped.

    Example:
    >>> round(mean_average_precision([[1, 0], [0, 1], [1, 1]], [[0.9, 0.2], [0.8, 0.7], [0.4, 0.1]]), 4)
    0.8333
    """
    y_true, y_score = _select(y_true, y_score, classes)
    ap = average_precision(y_true, y_score)
    return _mean(ap, return_skipped)


def mean_image_average_precision(y_true, y_score, classes=None, return_skipped=False):
    """miAP: the mean AP of the images (rows), each ranking its candidate labels.

    Args:
        y_true: 0/1 array [images, classes].
        y_score: scores of the same shape.
        classes: optional candidate labels (column indices; e.g. the unseen ones in zero-shot); default all.
        return_skipped: also return how many images had no positive candidate and were skipped.
    """
    y_true, y_score = _select(y_true, y_score, classes)
    return _mean(image_average_precision(y_true, y_score), return_skipped)


def multilabel_report(y_true, y_score, seen, unseen):
    """mAP and miAP in the three settings of multi-label zero-shot learning.

    `"seen"` and `"unseen"` rank only those labels (zero-shot: the unseen labels alone); `"all"` ranks every
    label (the generalised setting). Each entry gives `map`, `miap`, and the skipped class and image counts.

    Args:
        y_true: 0/1 array [images, classes].
        y_score: scores of the same shape.
        seen, unseen: the seen and unseen class indices.
    """
    out = {}
    for name, classes in (("seen", seen), ("unseen", unseen), ("all", None)):
        map_, skipped_classes = mean_average_precision(y_true, y_score, classes, return_skipped=True)
        miap, skipped_images = mean_image_average_precision(y_true, y_score, classes, return_skipped=True)
        out[name] = {"map": map_, "miap": miap, "skipped_classes": skipped_classes, "skipped_images": skipped_images}
    return out


@keras.saving.register_keras_serializable(package="keras_hier")
class MeanImageAveragePrecision(keras.metrics.Metric):
    """miAP as a Keras metric: each image's AP over the candidate labels, averaged over the images seen so far
    (exact: an image's AP needs only its own row; memory batch x labels^2). Images with no positive candidate
    are skipped.

    Args:
        classes: optional candidate label indices (e.g. the unseen ones); default all.
        name: metric name.

    Example:
    >>> m = MeanImageAveragePrecision()
    >>> m.update_state([[1, 0, 1]], [[0.9, 0.8, 0.4]])
    >>> round(float(m.result()), 4)
    0.8333
    """

    def __init__(self, classes=None, name="miap", **kwargs):
        super().__init__(name=name, **kwargs)
        self.classes = None if classes is None else [int(c) for c in classes]
        self.total = self.add_variable((), initializer="zeros", name="total")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        if self.classes is not None:
            y_true = ops.take(y_true, self.classes, axis=1)
            y_pred = ops.take(y_pred, self.classes, axis=1)
        # As `image_average_precision`: precision among the labels scored at least as high as each positive.
        at_least = ops.cast(y_pred[:, None, :] >= y_pred[:, :, None], "float32")
        precision = ops.sum(at_least * y_true[:, None, :], axis=-1) / ops.sum(at_least, axis=-1)
        positives = ops.sum(y_true, axis=1)
        ap = ops.sum(precision * y_true, axis=1) / ops.maximum(positives, 1.0)
        valid = ops.cast(positives > 0, "float32")
        self.total.assign_add(ops.sum(ap * valid) + nan_unless_finite(y_pred))  # NaN scores: a NaN result
        self.count.assign_add(ops.sum(valid))

    def result(self):
        return ops.divide_no_nan(self.total, self.count) + nan_unless_finite(self.total)

    def get_config(self):
        return {**super().get_config(), "classes": self.classes}


@keras.saving.register_keras_serializable(package="keras_hier")
class MeanAveragePrecision(keras.metrics.Metric):
    """mAP as a Keras metric, from per-class histograms of the scores over `num_thresholds` bins of [0, 1]
    (as `keras.metrics.AUC` keeps its state): close to the exact value when scores rarely share a bin; use
    `mean_average_precision` on the collected scores for the exact number. Classes with no positive are
    skipped.

    Args:
        num_classes: the number of label columns.
        classes: optional label indices to evaluate; default all.
        num_thresholds: histogram bins.
        from_logits: pass the scores through a sigmoid first.
        name: metric name.
    """

    def __init__(self, num_classes, classes=None, num_thresholds=1000, from_logits=False, name="map", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.classes = None if classes is None else [int(c) for c in classes]
        self.num_thresholds = int(num_thresholds)
        self.from_logits = bool(from_logits)
        width = self.num_classes if self.classes is None else len(self.classes)
        self.positives = self.add_variable((self.num_thresholds, width), initializer="zeros", name="positives")
        self.negatives = self.add_variable((self.num_thresholds, width), initializer="zeros", name="negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        if self.from_logits:
            y_pred = ops.sigmoid(y_pred)
        if self.classes is not None:
            y_true = ops.take(y_true, self.classes, axis=1)
            y_pred = ops.take(y_pred, self.classes, axis=1)
        bins = ops.cast(ops.clip(ops.floor(y_pred * self.num_thresholds), 0, self.num_thresholds - 1), "int32")
        one_hot = ops.one_hot(bins, self.num_thresholds, dtype="float32")  # [batch, classes, bins]
        self.positives.assign_add(ops.transpose(ops.sum(one_hot * y_true[..., None], axis=0)) +
                                  nan_unless_finite(y_pred))  # NaN scores: a NaN result
        self.negatives.assign_add(ops.transpose(ops.sum(one_hot * (1.0 - y_true[..., None]), axis=0)))

    def result(self):
        # Highest bin first: each bin is one threshold (its scores tie).
        tp = ops.cumsum(ops.flip(self.positives, axis=0), axis=0)
        fp = ops.cumsum(ops.flip(self.negatives, axis=0), axis=0)
        total = tp[-1]
        precision = ops.divide_no_nan(tp, tp + fp)
        gained = ops.flip(self.positives, axis=0)
        ap = ops.sum(gained * precision, axis=0) / ops.maximum(total, 1.0)
        valid = ops.cast(total > 0, "float32")
        return ops.divide_no_nan(ops.sum(ap * valid), ops.sum(valid)) + nan_unless_finite(self.positives)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "classes": self.classes,
            "num_thresholds": self.num_thresholds,
            "from_logits": self.from_logits,
        }


def _checked(y_true, y_score):
    y_true, y_score = np.asarray(y_true, np.float64), np.asarray(y_score, np.float64)
    if y_true.ndim != 2 or y_true.shape != y_score.shape:
        raise ValueError(f"Expected y_true and y_score of the same shape [images, classes]; got {y_true.shape} and "
                         f"{y_score.shape}.")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("y_true must hold 0 / 1 labels.")
    return y_true, check_finite(y_score, "y_score")


def _select(y_true, y_score, classes):
    y_true, y_score = _checked(y_true, y_score)
    if classes is not None:
        classes = np.asarray(classes, np.int64).reshape(-1)
        if classes.size and (classes.min() < 0 or classes.max() >= y_true.shape[1]):
            raise ValueError(f"Class indices must be in 0..{y_true.shape[1] - 1}; got {classes.min()}..{classes.max()}.")
        y_true, y_score = y_true[:, classes], y_score[:, classes]
    return y_true, y_score


def _mean(ap, return_skipped):
    valid = ~np.isnan(ap)
    value = float(ap[valid].mean()) if valid.any() else float("nan")
    return (value, int((~valid).sum())) if return_skipped else value
