"""Zero-shot metrics of HGR-Net: Hit@k over unseen candidates, TOR and POR over the whole hierarchy.

All take logits (or similarities) over every node of the hierarchy but the root, in `NodeTables` order (the
classes first: node `i` is class `i`), and class labels. As HGR-Net's evaluation code computes them:

- **Hit@k**: the label is among the k best-scored *candidate* classes (the unseen classes in pure zero-shot).
- **TOR** (top-overlap ratio): the best-scored node over all nodes is the label or one of its ancestors.
- **POR** (point-overlap ratio): for each level j of the label's chain (level 0 up to the class), the best
  node among the nodes of level j is the chain's node there; POR of an image is the fraction of its levels
  right, averaged over images.
"""

import keras
import numpy as np

from keras_hier._validation import check_finite, nan_unless_finite
from keras import ops

from keras_hier.hierarchy import Hierarchy
from keras_hier.node_tables import NodeTables

_MASKED = -1e9


def _tables(hierarchy):
    if isinstance(hierarchy, NodeTables):
        return hierarchy
    if isinstance(hierarchy, str):
        hierarchy = Hierarchy.from_json(hierarchy)
    return NodeTables(hierarchy)


def _candidate_mask(tables, candidates):
    mask = np.zeros(tables.num_nodes, bool)
    if candidates is None:
        mask[: tables.num_classes] = True
    else:
        ids = [tables.find(c, classes_only=True) for c in candidates]
        if not ids:
            raise ValueError("No candidates: give at least one class.")
        mask[ids] = True
    return mask


def _prepare(hierarchy, logits, labels):
    """NodeTables, float32 logits and int labels, checked: shapes and the class range."""
    tables = _tables(hierarchy)
    logits, labels = np.asarray(logits, np.float32), np.asarray(labels).reshape(-1).astype(np.int64)
    shape = tuple(logits.shape)
    if len(shape) != 2 or shape[1] != tables.num_nodes:
        raise ValueError(
            f"Expected logits [batch, {tables.num_nodes}] over the hierarchy's nodes (NodeTables order); got {shape}."
        )
    if len(labels) != shape[0]:
        raise ValueError(f"{len(labels)} labels for {shape[0]} rows of logits.")
    check_finite(logits, "logits")
    bad = (labels < 0) | (labels >= tables.num_classes)
    if bad.any():
        raise ValueError(f"Label {int(labels[bad][0])} is outside the class range 0..{tables.num_classes - 1}.")
    return tables, logits, labels


def hits(logits, labels, candidate_mask, k):
    """Per image, 1.0 where the label is among the `k` best candidates (a tensor [batch])."""
    logits = ops.where(ops.convert_to_tensor(candidate_mask)[None, :], ops.cast(logits, "float32"), _MASKED)
    k = min(int(k), int(np.sum(candidate_mask)))
    _, top = ops.top_k(logits, k)
    return ops.cast(ops.any(top == ops.cast(ops.reshape(labels, (-1, 1)), top.dtype), axis=-1), "float32")


def top_overlaps(logits, labels, tables):
    """Per image, 1.0 where the best node is the label or one of its ancestors (a tensor [batch])."""
    best = ops.argmax(ops.cast(logits, "float32"), axis=-1)
    chain = ops.take(ops.convert_to_tensor(tables.chain), ops.cast(ops.reshape(labels, (-1,)), "int32"), axis=0)
    return ops.cast(ops.any(chain == ops.cast(best, chain.dtype)[:, None], axis=-1), "float32")


def point_overlaps(logits, labels, tables):
    """Per image, the fraction of its chain's levels where the best node of that level is right."""
    logits = ops.cast(logits, "float32")
    chain = ops.take(ops.convert_to_tensor(tables.chain), ops.cast(ops.reshape(labels, (-1,)), "int32"), axis=0)
    right, levels = 0.0, 0.0
    for j, layer in enumerate(tables.layers):
        at_level = np.zeros(tables.num_nodes, bool)
        at_level[layer] = True
        best = ops.argmax(ops.where(ops.convert_to_tensor(at_level)[None, :], logits, _MASKED), axis=-1)
        valid = ops.cast(chain[:, j] >= 0, "float32")
        right = right + valid * ops.cast(ops.cast(best, chain.dtype) == chain[:, j], "float32")
        levels = levels + valid
    return right / levels


def hit_at_k(logits, labels, hierarchy, k=(1, 2, 5, 10, 20), candidates=None):
    """Hit@k: the share of images whose class is among the k best-scored candidate classes.

    Args:
        logits: array [batch, N] of scores over the hierarchy's nodes (`NodeTables` order).
        labels: int array [batch] of class labels, each among the candidates.
        hierarchy: a `Hierarchy` (or its `NodeTables`).
        k: one k or a sequence of them; k larger than the number of candidates counts every candidate.
        candidates: the candidate classes (labels or names); default all classes.

    Returns:
        A float, or a dict k -> float for a sequence of k.

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> logits = np.array([[0.1, 0.9, 0.5, 0.0]])  # cat, dog, car, animal
    >>> hit_at_k(logits, [0], h, k=(1, 2), candidates=["cat", "dog"])
    {1: 0.0, 2: 1.0}
    """
    tables, logits, labels = _prepare(hierarchy, logits, labels)
    mask = _candidate_mask(tables, candidates)
    if labels.size and not mask[labels].all():
        raise ValueError(f"Label {int(labels[~mask[labels]][0])} is not among the candidates: Hit@k ranks candidates only.")
    ks = (k,) if np.isscalar(k) else tuple(k)
    result = {int(kk): float(np.mean(ops.convert_to_numpy(hits(logits, labels, mask, kk)))) if labels.size else 0.0
              for kk in ks}
    return result[int(k)] if np.isscalar(k) else result


def top_overlap_ratio(logits, labels, hierarchy):
    """TOR: the share of images whose best-scored node (over all nodes) is their class or an ancestor of it.

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> top_overlap_ratio(np.array([[0.1, 0.2, 0.0, 0.9], [0.1, 0.2, 0.0, 0.9]]), [0, 2], h)
    0.5
    """
    tables, logits, labels = _prepare(hierarchy, logits, labels)
    return float(np.mean(ops.convert_to_numpy(top_overlaps(logits, labels, tables)))) if labels.size else 0.0


def point_overlap_ratio(logits, labels, hierarchy):
    """POR: per image, the fraction of the levels of its chain where the best node of that level is right;
    averaged over images.

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> point_overlap_ratio(np.array([[0.1, 0.2, 0.0, 0.9]]), [0], h)  # animal right, dog wrong
    0.5
    """
    tables, logits, labels = _prepare(hierarchy, logits, labels)
    return float(np.mean(ops.convert_to_numpy(point_overlaps(logits, labels, tables)))) if labels.size else 0.0


class _HierarchyMean(keras.metrics.Mean):
    """A running mean of a per-image hierarchy score; `update_state(labels, logits)`. Subclasses define
    `score(y_true, y_pred)`, the score of each image [batch]."""

    def __init__(self, hierarchy, name, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.hierarchy = Hierarchy.from_json(hierarchy) if isinstance(hierarchy, str) else hierarchy
        self.tables = NodeTables(self.hierarchy)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # NaN logits make the result NaN, not a score computed over them.
        score = self.score(y_true, y_pred) + nan_unless_finite(y_pred)
        return super().update_state(score, sample_weight=sample_weight)

    def get_config(self):
        return {"hierarchy": self.hierarchy.to_json(), "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_hier")
class HitAtK(_HierarchyMean):
    """Hit@k over candidate classes as a Keras metric (see `hit_at_k`).

    Args:
        hierarchy: a `Hierarchy`.
        k: the number of best candidates that count.
        candidates: candidate classes (labels or names); default all classes.
        name: the metric's name (default `hit@k`).

    Example:
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HitAtK(h, k=1, candidates=["cat", "dog"])
    >>> m.update_state(np.array([1]), np.array([[0.1, 0.9, 0.5, 0.0]]))
    >>> float(m.result())
    1.0
    """

    def __init__(self, hierarchy, k=1, candidates=None, name=None, dtype=None):
        super().__init__(hierarchy, name=name or f"hit@{k}", dtype=dtype)
        self.k = int(k)
        self.candidates = None if candidates is None else [c if isinstance(c, str) else int(c) for c in candidates]
        self._mask = _candidate_mask(self.tables, self.candidates)

    def score(self, y_true, y_pred):
        """1 where the label is among the k best candidates, per image [batch]."""
        return hits(y_pred, y_true, self._mask, self.k)

    def get_config(self):
        return {**super().get_config(), "k": self.k, "candidates": self.candidates}


@keras.saving.register_keras_serializable(package="keras_hier")
class TopOverlapRatio(_HierarchyMean):
    """TOR as a Keras metric (see `top_overlap_ratio`).

    Args:
        hierarchy: a `Hierarchy`.
        name: the metric's name.
    """

    def __init__(self, hierarchy, name="tor", dtype=None):
        super().__init__(hierarchy, name=name, dtype=dtype)

    def score(self, y_true, y_pred):
        """The top overlap ratio of each image [batch]."""
        return top_overlaps(y_pred, y_true, self.tables)


@keras.saving.register_keras_serializable(package="keras_hier")
class PointOverlapRatio(_HierarchyMean):
    """POR as a Keras metric (see `point_overlap_ratio`).

    Args:
        hierarchy: a `Hierarchy`.
        name: the metric's name.
    """

    def __init__(self, hierarchy, name="por", dtype=None):
        super().__init__(hierarchy, name=name, dtype=dtype)

    def score(self, y_true, y_pred):
        """The point overlap ratio of each image [batch]."""
        return point_overlaps(y_pred, y_true, self.tables)


__all__ = ["hit_at_k", "top_overlap_ratio", "point_overlap_ratio", "HitAtK", "TopOverlapRatio", "PointOverlapRatio"]
