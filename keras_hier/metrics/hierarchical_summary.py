"""`hierarchical_summary`: the hierarchy-aware numbers every recipe reports next to its paper's metrics."""

import numpy as np

from keras_hier.metrics.hierarchical_f1 import hierarchical_precision_recall_f1
from keras_hier.metrics.lca import as_hierarchy, lca_distance
from keras_hier.metrics.mistakes import hierarchical_distance_at_k, severity_of


def hierarchical_summary(y_true, hierarchy, y_score=None, y_pred=None, k=5, distance=None, candidates=None):
    """Flat accuracy, hierarchical precision / recall / F1 (micro), mistake severity and (from scores) the average
    hierarchical distance@k of one classifier's predictions, over the LCA-height distance.

    Args:
        y_true: int class labels [n] in the hierarchy's label order.
        hierarchy: a `Hierarchy` (or its JSON).
        y_score: scores [n, classes] (the prediction is their argmax); or give `y_pred`.
        y_pred: int class predictions [n] (e.g. a routed class), when there are no scores: no distance@k then.
        k: the k of the hierarchical distance@k.
        distance: the distance matrix (default `lca_distance(hierarchy)`; pass it to reuse one).
        candidates: class labels [m] that the columns of `y_score` score (zero-shot: the unseen classes); the
            labels must be among them, and distances are those of the whole hierarchy.

    Returns:
        dict with `accuracy`, `hierarchical_precision`, `hierarchical_recall`, `hierarchical_f1`,
        `mistake_severity` and, with scores (and k candidates at least), `hierarchical_distance@k`.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> hierarchical_summary([0, 2], h, y_pred=[1, 2])
    {'accuracy': 0.5, 'hierarchical_precision': 0.6666666666666666, 'hierarchical_recall': 0.6666666666666666, \
'hierarchical_f1': 0.6666666666666666, 'mistake_severity': 1.0}
    """
    hierarchy = as_hierarchy(hierarchy)
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    if (y_score is None) == (y_pred is None):
        raise ValueError("Give exactly one of `y_score` and `y_pred`.")
    columns = np.arange(hierarchy.num_classes) if candidates is None else np.asarray(candidates, np.int64)
    if y_score is not None and np.shape(y_score)[-1] != len(columns):
        raise ValueError(f"Expected scores [n, {len(columns)}]; got {np.shape(y_score)}.")
    if not np.isin(labels, columns).all():
        raise ValueError(f"Label {int(labels[~np.isin(labels, columns)][0])} is not among the candidates.")
    predicted = columns[np.asarray(y_score).argmax(axis=1)] if y_score is not None else np.asarray(y_pred).reshape(-1)
    predicted = predicted.astype(np.int64)
    distance = lca_distance(hierarchy) if distance is None else np.asarray(distance)
    precision, recall, f1 = hierarchical_precision_recall_f1(labels, predicted, hierarchy)
    out = {"accuracy": float(np.mean(predicted == labels)) if len(labels) else 0.0,
           "hierarchical_precision": precision, "hierarchical_recall": recall, "hierarchical_f1": f1,
           "mistake_severity": severity_of(labels, predicted, distance)}
    if y_score is not None and k <= len(columns):
        position = np.zeros(hierarchy.num_classes, np.int64)
        position[columns] = np.arange(len(columns))
        out[f"hierarchical_distance@{k}"] = hierarchical_distance_at_k(position[labels], y_score,
                                                                       distance[np.ix_(columns, columns)], k=k)
    return out
