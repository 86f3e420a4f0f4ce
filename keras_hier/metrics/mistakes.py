"""How bad the mistakes are (Making Better Mistakes, Bertinetto et al. CVPR 2020): mistake severity, the average
hierarchical distance of the top-k predictions, and the hierarchical precision@k, over an LCA distance matrix.

The reference code averaged per-batch means and dropped the last batch; these accumulate per sample, so the numbers
do not depend on the batch size.
"""

import keras
import numpy as np
from keras import ops

from keras_hier.metrics.lca import KINDS, as_hierarchy, lca_distance


def distance_matrix(hierarchy, kind="height"):
    """`lca_distance(hierarchy, kind)`, or `hierarchy` itself when it is already a square distance matrix (e.g.
    the full hierarchy's distances restricted to the zero-shot candidates)."""
    if isinstance(hierarchy, (np.ndarray, list)):
        distance = np.asarray(hierarchy, np.float32)
        if distance.ndim != 2 or distance.shape[0] != distance.shape[1]:
            raise ValueError(f"A distance matrix must be square [classes, classes]; got shape {distance.shape}.")
        return distance
    return lca_distance(hierarchy, kind)


def _ranked(y_true, y_score, distance):
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    scores = np.asarray(y_score, np.float32)
    n = distance.shape[0]
    if scores.ndim != 2 or scores.shape[1] != n or scores.shape[0] != len(labels):
        raise ValueError(f"Expected scores [{len(labels)}, {n}] for {len(labels)} labels over {n} classes; "
                         f"got {scores.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= n):
        raise ValueError(f"Labels must be in 0..{n - 1}; got {labels.min()}..{labels.max()}.")
    if not np.isfinite(scores).all():
        raise ValueError("The scores hold NaN or infinite values.")
    return labels, np.argsort(-scores, axis=1, kind="stable")  # best first; ties: the lower label first


def _ks(k, n):
    ks = (k,) if np.isscalar(k) else tuple(k)
    if not ks or min(ks) < 1:
        raise ValueError(f"k must be positive; got {k}.")
    return ks, {kk: min(int(kk), n) for kk in ks}


def mistake_severity(y_true, y_score, hierarchy, kind="height"):
    """The mean hierarchical distance between the label and the top-1 prediction over the mistakes only.

    Args:
        y_true: int class labels [n].
        y_score: scores [n, classes] (probabilities or logits).
        hierarchy: a `Hierarchy` or its JSON (its `lca_distance(kind)`), or a distance matrix [classes, classes].
        kind: `"height"` (the LCA's height, Making Better Mistakes') or `"path"` (see `lca_distance`).

    Returns:
        A float; 0.0 when there is no mistake.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> mistake_severity([0, 0, 2], [[0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.0, 0.1, 0.9]], h)  # dog, car: (1 + 2) / 2
    1.5
    """
    distance = distance_matrix(hierarchy, kind)
    labels, ranked = _ranked(y_true, y_score, distance)
    return severity_of(labels, ranked[:, 0] if len(labels) else np.zeros(0, np.int64), distance)


def severity_of(labels, predicted, distance):
    """The mean `distance[label, prediction]` over the samples whose prediction is wrong (0.0 when none is)."""
    wrong = predicted != labels
    return float(distance[labels[wrong], predicted[wrong]].mean()) if wrong.any() else 0.0


def hierarchical_distance_at_k(y_true, y_score, hierarchy, k=(1, 5, 20), kind="height"):
    """The mean over samples of the mean hierarchical distance between the label and each of the k best-scored
    classes (Making Better Mistakes' "average hierarchical distance@k"; a right top-1 counts 0).

    Args:
        y_true: int class labels [n].
        y_score: scores [n, classes].
        hierarchy: a `Hierarchy`, its JSON, or a distance matrix (see `mistake_severity`).
        k: one k or a sequence; k above the number of classes counts every class.
        kind: the distance (see `lca_distance`).

    Returns:
        A float for one k, else a dict k -> float; 0.0 for no samples.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> hierarchical_distance_at_k([0], [[0.2, 0.7, 0.1]], h, k=(1, 2))  # dog (1); dog and cat (1 + 0) / 2
    {1: 1.0, 2: 0.5}
    """
    distance = distance_matrix(hierarchy, kind)
    labels, ranked = _ranked(y_true, y_score, distance)
    ks, capped = _ks(k, distance.shape[0])
    found = distance[labels[:, None], ranked]
    out = {int(kk): float(found[:, : capped[kk]].mean()) if len(labels) else 0.0 for kk in ks}
    return out[int(k)] if np.isscalar(k) else out


def hierarchical_precision_at_k(y_true, y_score, hierarchy, k=(1, 5, 20), kind="height"):
    """Making Better Mistakes' hierarchical precision@k: the similarity 1 - d / max(d) of the k best-scored classes
    to the label, summed, over the best sum any k classes could have (the k nearest classes to the label), summed
    over samples first (their code took this ratio per batch and averaged the batches).

    Args:
        y_true: int class labels [n].
        y_score: scores [n, classes].
        hierarchy: a `Hierarchy`, its JSON, or a distance matrix (see `mistake_severity`).
        k: one k or a sequence.
        kind: the distance (see `lca_distance`).

    Returns:
        A float in [0, 1] for one k, else a dict k -> float; 0.0 for no samples.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> hierarchical_precision_at_k([0], [[0.2, 0.1, 0.7]], h, k=(1, 2))  # car: 0 of 1; car, cat: 1 of 1.5
    {1: 0.0, 2: 0.6666666865348816}
    """
    distance = distance_matrix(hierarchy, kind)
    labels, ranked = _ranked(y_true, y_score, distance)
    ks, capped = _ks(k, distance.shape[0])
    similarity = 1.0 - distance / max(float(distance.max()), 1e-12)
    found = similarity[labels[:, None], ranked]
    best = -np.sort(-similarity[labels], axis=1)
    out = {}
    for kk in ks:
        denominator = best[:, : capped[kk]].sum()
        out[int(kk)] = float(found[:, : capped[kk]].sum() / denominator) if len(labels) and denominator > 0 else 0.0
    return out[int(k)] if np.isscalar(k) else out


class _DistanceMean(keras.metrics.Mean):
    """A weighted running mean of a per-sample value computed from the distance matrix; `update_state(y_true,
    y_pred)` with int labels and scores [batch, classes]. Subclasses define `_values(rows, labels, scores)` -> (value,
    weight) per sample."""

    def __init__(self, hierarchy, kind="height", name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if kind not in KINDS:
            raise ValueError(f"Unknown kind {kind!r}: use one of {KINDS}.")
        self.kind = kind
        if isinstance(hierarchy, (np.ndarray, list)):
            self.hierarchy, self._distance = None, distance_matrix(hierarchy)
        else:
            self.hierarchy = as_hierarchy(hierarchy)
            self._distance = lca_distance(self.hierarchy, kind)

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        rows = ops.take(ops.convert_to_tensor(self._distance), labels, axis=0)  # [batch, classes]
        value, weight = self._values(rows, labels, ops.cast(y_pred, "float32"))
        if sample_weight is not None:
            weight = weight * ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        return super().update_state(value, sample_weight=weight)

    def get_config(self):
        hierarchy = self.hierarchy.to_json() if self.hierarchy is not None else self._distance.tolist()
        return {"hierarchy": hierarchy, "kind": self.kind, "name": self.name, "dtype": self.dtype}


def _top_distances(rows, scores, k):
    """The distances [batch, k] of the k best-scored classes to each label."""
    _, top = ops.top_k(scores, k)
    return ops.take_along_axis(rows, top, axis=1)


@keras.saving.register_keras_serializable(package="keras_hier")
class MistakeSeverity(_DistanceMean):
    """Mistake severity as a streaming Keras metric (see `mistake_severity`): the exact mean over every top-1
    mistake seen since the last reset.

    Args:
        hierarchy: a `Hierarchy`, its JSON, or a distance matrix [classes, classes].
        kind: `"height"` or `"path"` (see `lca_distance`).
        name: the metric's name (default `mistake_severity`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = MistakeSeverity(h)
    >>> m.update_state(np.array([0, 0]), np.array([[0.2, 0.7, 0.1], [0.9, 0.0, 0.1]]))
    >>> float(m.result())
    1.0
    """

    def __init__(self, hierarchy, kind="height", name=None, dtype=None):
        super().__init__(hierarchy, kind, name=name or "mistake_severity", dtype=dtype)

    def _values(self, rows, labels, scores):
        top = ops.cast(ops.argmax(scores, axis=-1), "int32")
        found = ops.take_along_axis(rows, top[:, None], axis=1)[:, 0]
        return found, ops.cast(top != labels, "float32")


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalDistanceAtK(_DistanceMean):
    """The average hierarchical distance of the top-k predictions as a streaming Keras metric (see
    `hierarchical_distance_at_k`).

    Args:
        hierarchy: a `Hierarchy`, its JSON, or a distance matrix [classes, classes].
        k: the number of best-scored classes (capped at the number of classes).
        kind: `"height"` or `"path"`.
        name: the metric's name (default `hierarchical_distance@k`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HierarchicalDistanceAtK(h, k=2)
    >>> m.update_state(np.array([0]), np.array([[0.2, 0.7, 0.1]]))
    >>> float(m.result())
    0.5
    """

    def __init__(self, hierarchy, k=5, kind="height", name=None, dtype=None):
        super().__init__(hierarchy, kind, name=name or f"hierarchical_distance@{k}", dtype=dtype)
        self.k = int(k)
        if self.k < 1:
            raise ValueError(f"k must be positive; got {k}.")

    def _values(self, rows, labels, scores):
        top = _top_distances(rows, scores, min(self.k, self._distance.shape[0]))
        return ops.mean(top, axis=1), ops.ones_like(top[:, 0])

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalPrecisionAtK(_DistanceMean):
    """Making Better Mistakes' hierarchical precision@k as a streaming Keras metric (see
    `hierarchical_precision_at_k`: the sums over all samples seen, then their ratio).

    Args:
        hierarchy: a `Hierarchy`, its JSON, or a distance matrix [classes, classes].
        k: the number of best-scored classes.
        kind: `"height"` or `"path"`.
        name: the metric's name (default `hierarchical_precision@k`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HierarchicalPrecisionAtK(h, k=2)
    >>> m.update_state(np.array([0]), np.array([[0.2, 0.1, 0.7]]))
    >>> round(float(m.result()), 4)
    0.6667
    """

    def __init__(self, hierarchy, k=5, kind="height", name=None, dtype=None):
        super().__init__(hierarchy, kind, name=name or f"hierarchical_precision@{k}", dtype=dtype)
        self.k = int(k)
        if self.k < 1:
            raise ValueError(f"k must be positive; got {k}.")
        k = min(self.k, self._distance.shape[0])
        similarity = 1.0 - self._distance / max(float(self._distance.max()), 1e-12)
        self._best = -np.sort(-similarity, axis=1)[:, :k].sum(axis=1).astype(np.float32)  # per label

    def _values(self, rows, labels, scores):
        scale = max(float(self._distance.max()), 1e-12)
        found = ops.sum(1.0 - _top_distances(rows, scores, min(self.k, self._distance.shape[0])) / scale, axis=1)
        best = ops.take(ops.convert_to_tensor(self._best), labels, axis=0)
        # A mean of found / best weighted by best: sum(found) / sum(best) over the samples.
        return found / ops.maximum(best, 1e-12), best

    def get_config(self):
        return {**super().get_config(), "k": self.k}
