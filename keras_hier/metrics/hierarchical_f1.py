"""Hierarchical precision, recall and F-score (Kiritchenko et al. 2005; hiclass's `precision`, `recall`, `f1`): the
label and the prediction are each extended with their ancestors, and the two node sets are compared.

For a sample with true set alpha (the true classes and all their ancestors, without the root) and predicted set
beta (the same for the predictions):

- micro: hP = sum |alpha ^ beta| / sum |beta|, hR = sum |alpha ^ beta| / sum |alpha| over the samples, and
  hF_b = (1 + b^2) hP hR / (b^2 hP + hR);
- macro: the mean over samples of each sample's hP, hR and hF_b.
"""

import keras
import numpy as np
from keras import ops

from keras_hier.metrics.lca import as_hierarchy, class_ancestors

AVERAGES = ("micro", "macro")


class AncestorSets:
    """The ancestor-or-self sets of a hierarchy's nodes, without the root, as rows of a 0/1 matrix over the
    non-root nodes (`membership[i]`: class `i`'s set). `rows(nodes)` gives any nodes' sets (internal nodes too)."""

    def __init__(self, hierarchy):
        self.hierarchy = as_hierarchy(hierarchy)
        self.columns = {n: i for i, n in enumerate(n for n in self.hierarchy.nodes if n != self.hierarchy.root)}
        self.membership = np.zeros((self.hierarchy.num_classes, len(self.columns)), np.float32)
        for label, up in enumerate(class_ancestors(self.hierarchy)):
            self.membership[label, [self.columns[n] for n in up if n != self.hierarchy.root]] = 1.0

    def rows(self, nodes):
        """0/1 rows [len(nodes), non-root nodes] for node names, each its set (the root's is empty)."""
        out = np.zeros((len(nodes), len(self.columns)), np.float32)
        for i, node in enumerate(nodes):
            self.hierarchy.depth(node)  # an unknown node raises, naming it
            out[i, [self.columns[n] for n in (*self.hierarchy.ancestors(node), node) if n in self.columns]] = 1.0
        return out

    def sets(self, y, what):
        """0/1 rows for `y`: int labels [n], node names [n], lists of names [n] (a union each), or multi-hot label
        sets [n, num_classes]."""
        num_classes = self.hierarchy.num_classes
        if isinstance(y, (list, tuple)) and y and all(isinstance(v, (list, tuple, set)) for v in y):
            return np.stack([self.rows(sorted(v)).max(axis=0, initial=0.0) for v in y])
        y = np.asarray(y)
        if y.dtype.kind in "USO":
            return self.rows([str(v) for v in y.reshape(-1)])
        if y.ndim == 2 and y.shape[1] == num_classes > 1:
            if not np.isin(y, (0, 1)).all():
                raise ValueError(f"`{what}` as label sets must be 0/1 (multi-hot) [n, {num_classes}].")
            return (y.astype(np.float32) @ self.membership > 0).astype(np.float32)
        y = y.reshape(-1)
        if y.size and (y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= num_classes):
            raise ValueError(f"`{what}` must hold class labels in 0..{num_classes - 1} (or node names, or multi-hot "
                             f"sets [n, {num_classes}]); got {y[:5].tolist()}...")
        return self.membership[y.astype(np.int64)]


def f_beta(precision, recall, beta):
    """(1 + b^2) P R / (b^2 P + R), 0 where P and R are both 0 (works on arrays and tensors)."""
    b2 = float(beta) ** 2
    denominator = b2 * precision + recall
    return (1.0 + b2) * precision * recall / ops.maximum(denominator, 1e-12) if not isinstance(precision, float) \
        else ((1.0 + b2) * precision * recall / denominator if denominator > 0 else 0.0)


def _check_average(average, beta):
    if average not in AVERAGES:
        raise ValueError(f"Unknown average {average!r}: use one of {AVERAGES}.")
    if not float(beta) > 0:
        raise ValueError(f"`beta` must be positive; got {beta}.")


def hierarchical_precision_recall_f1(y_true, y_pred, hierarchy, average="micro", beta=1.0):
    """Hierarchical precision, recall and F_beta: each label extended with its ancestors (all of them in a DAG),
    without the root, as in Kiritchenko et al. and hiclass (equal to `hiclass.metrics.precision`, `recall` and `f1`
    given the root-to-label paths).

    Args:
        y_true: the labels: int class labels [n], node names [n] (internal nodes too), lists of node names (a set
            per sample), or multi-hot label sets [n, num_classes].
        y_pred: the predictions, in any of those forms (an internal node: a prediction that stops above the
            classes).
        hierarchy: a `Hierarchy` (tree or DAG) or its JSON.
        average: `"micro"` (sums over samples, then the ratios) or `"macro"` (each sample's ratios, averaged).
        beta: the F-score's beta (1: F1).

    Returns:
        `(hP, hR, hF)` floats; 0.0 for no samples, and for a sample whose set is empty (the root) its ratios are 0.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"0": {"1": ["2"]}, "3": {"4": ["5"]}, "6": {"7": ["8"]}}})
    >>> hierarchical_precision_recall_f1(["2", "5"], ["2", "8"], h)  # hiclass's docstring example
    (0.5, 0.5, 0.5)
    """
    _check_average(average, beta)
    sets = AncestorSets(hierarchy)
    truth, predicted = sets.sets(y_true, "y_true").astype(np.float64), sets.sets(y_pred, "y_pred").astype(np.float64)
    if len(truth) != len(predicted):
        raise ValueError(f"{len(truth)} labels for {len(predicted)} predictions.")
    if not len(truth):
        return 0.0, 0.0, 0.0
    both = (truth * predicted).sum(axis=1)
    true_size, predicted_size = truth.sum(axis=1), predicted.sum(axis=1)
    if average == "micro":
        precision = float(both.sum() / predicted_size.sum()) if predicted_size.sum() else 0.0
        recall = float(both.sum() / true_size.sum()) if true_size.sum() else 0.0
        return precision, recall, float(f_beta(precision, recall, beta))
    precision = np.divide(both, predicted_size, out=np.zeros_like(both), where=predicted_size > 0)
    recall = np.divide(both, true_size, out=np.zeros_like(both), where=true_size > 0)
    scores = np.array([f_beta(float(p), float(r), beta) for p, r in zip(precision, recall)])
    return float(precision.mean()), float(recall.mean()), float(scores.mean())


class _HierarchicalSetMetric(keras.metrics.Metric):
    """Streaming hierarchical precision / recall / F: exact sums over samples (micro) or of per-sample ratios
    (macro); `update_state(y_true, y_pred)` with int labels and scores [batch, classes], or (`multilabel`) multi-hot
    labels and scores thresholded at `threshold`. Subclasses pick the result."""

    def __init__(self, hierarchy, average="micro", beta=1.0, multilabel=False, threshold=0.5, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_average(average, beta)
        self.hierarchy = as_hierarchy(hierarchy)
        self.average, self.beta = average, float(beta)
        self.multilabel, self.threshold = bool(multilabel), float(threshold)
        self._membership = AncestorSets(self.hierarchy).membership
        names = ("intersection", "true_size", "predicted_size", "precision_sum", "recall_sum", "f_sum", "count")
        self._sums = {n: self.add_variable(shape=(), initializer="zeros", name=n, aggregation="sum") for n in names}

    def _sets(self, y_true, y_pred):
        membership = ops.convert_to_tensor(self._membership)
        y_pred = ops.cast(y_pred, "float32")
        if self.multilabel:
            truth = ops.cast(ops.matmul(ops.cast(y_true, "float32"), membership) > 0, "float32")
            predicted = ops.cast(ops.matmul(ops.cast(y_pred > self.threshold, "float32"), membership) > 0, "float32")
            return truth, predicted
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        return ops.take(membership, labels, axis=0), ops.take(membership, ops.argmax(y_pred, axis=-1), axis=0)

    def update_state(self, y_true, y_pred, sample_weight=None):
        truth, predicted = self._sets(y_true, y_pred)
        both, true_size, predicted_size = (ops.sum(truth * predicted, axis=1), ops.sum(truth, axis=1),
                                           ops.sum(predicted, axis=1))
        precision = ops.where(predicted_size > 0, both / ops.maximum(predicted_size, 1.0), 0.0)
        recall = ops.where(true_size > 0, both / ops.maximum(true_size, 1.0), 0.0)
        weight = ops.ones_like(both) if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        values = {"intersection": both, "true_size": true_size, "predicted_size": predicted_size,
                  "precision_sum": precision, "recall_sum": recall, "f_sum": f_beta(precision, recall, self.beta),
                  "count": ops.ones_like(both)}
        for name, value in values.items():
            self._sums[name].assign_add(ops.cast(ops.sum(value * weight), self._sums[name].dtype))

    def _scores(self):
        """(hP, hR, hF) as tensors from the sums."""
        s = {n: ops.cast(v, "float32") for n, v in self._sums.items()}
        if self.average == "macro":
            count = ops.maximum(s["count"], 1e-12)
            return s["precision_sum"] / count, s["recall_sum"] / count, s["f_sum"] / count
        precision = ops.where(s["predicted_size"] > 0, s["intersection"] / ops.maximum(s["predicted_size"], 1e-12), 0.0)
        recall = ops.where(s["true_size"] > 0, s["intersection"] / ops.maximum(s["true_size"], 1e-12), 0.0)
        return precision, recall, f_beta(precision, recall, self.beta)

    def reset_state(self):
        for variable in self._sums.values():
            variable.assign(ops.zeros_like(variable))

    def get_config(self):
        return {"hierarchy": self.hierarchy.to_json(), "average": self.average, "beta": self.beta,
                "multilabel": self.multilabel, "threshold": self.threshold, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalPrecision(_HierarchicalSetMetric):
    """Hierarchical precision as a streaming Keras metric (see `hierarchical_precision_recall_f1`).

    Args:
        hierarchy: a `Hierarchy` or its JSON.
        average: `"micro"` or `"macro"`.
        beta: unused here (kept for one signature with `HierarchicalF1`).
        multilabel: labels are multi-hot sets and predictions the scores above `threshold`; else int labels and
            the argmax of the scores.
        threshold: the multi-label decision threshold on `y_pred`.
        name: the metric's name (default `hierarchical_precision`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HierarchicalPrecision(h)
    >>> m.update_state(np.array([0]), np.array([[0.1, 0.8, 0.1]]))  # dog for cat: {animal, dog} vs {animal, cat}
    >>> float(m.result())
    0.5
    """

    def __init__(self, hierarchy, average="micro", beta=1.0, multilabel=False, threshold=0.5, name=None, dtype=None):
        super().__init__(hierarchy, average, beta, multilabel, threshold, name or "hierarchical_precision", dtype)

    def result(self):
        return self._scores()[0]


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalRecall(_HierarchicalSetMetric):
    """Hierarchical recall as a streaming Keras metric (see `hierarchical_precision_recall_f1`; arguments as
    `HierarchicalPrecision`'s, name default `hierarchical_recall`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HierarchicalRecall(h)
    >>> m.update_state(np.array([2]), np.array([[0.1, 0.8, 0.1]]))  # dog for car: {animal, dog} vs {car}
    >>> float(m.result())
    0.0
    """

    def __init__(self, hierarchy, average="micro", beta=1.0, multilabel=False, threshold=0.5, name=None, dtype=None):
        super().__init__(hierarchy, average, beta, multilabel, threshold, name or "hierarchical_recall", dtype)

    def result(self):
        return self._scores()[1]


@keras.saving.register_keras_serializable(package="keras_hier")
class HierarchicalF1(_HierarchicalSetMetric):
    """Hierarchical F_beta as a streaming Keras metric (see `hierarchical_precision_recall_f1`; arguments as
    `HierarchicalPrecision`'s, `beta` the F-score's, name default `hierarchical_f1`).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> m = HierarchicalF1(h)
    >>> m.update_state(np.array([0, 1]), np.array([[0.1, 0.8, 0.1], [0.1, 0.8, 0.1]]))
    >>> float(m.result())  # sums: 3 of 4 true nodes found, 3 of 4 predicted nodes right
    0.75
    """

    def __init__(self, hierarchy, average="micro", beta=1.0, multilabel=False, threshold=0.5, name=None, dtype=None):
        super().__init__(hierarchy, average, beta, multilabel, threshold, name or "hierarchical_f1", dtype)

    def result(self):
        return self._scores()[2]
