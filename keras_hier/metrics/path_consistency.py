"""Path consistency of models that predict every level of a hierarchy (per-level heads, or the level marginals of a
class distribution such as HierNet's node softmaxes multiplied along the routes): full-path accuracy and the share
of inconsistent paths.

Levels are the hierarchy's cuts (`Hierarchy.level(d)`, d = 1 .. max_depth; a leaf shallower than d stands for
itself further down), so a prediction at level d is an index into `hierarchy.level(d)`.
"""

import numpy as np

from keras_hier.metrics.lca import as_hierarchy


def level_predictions(probabilities, hierarchy):
    """The argmax of each level's marginal probabilities (the sum of the classes' probabilities under each node).

    Args:
        probabilities: class probabilities [n, num_classes] in label order.
        hierarchy: a `Hierarchy` or its JSON.

    Returns:
        A list over depths 1 .. max_depth of int arrays [n], indices into `hierarchy.level(depth)`.

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> [p.tolist() for p in level_predictions(np.array([[0.3, 0.3, 0.4]]), h)]  # animal (0.6), then car (0.4)
    [[0], [2]]
    """
    hierarchy = as_hierarchy(hierarchy)
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] != hierarchy.num_classes:
        raise ValueError(f"Expected probabilities [n, {hierarchy.num_classes}]; got {probabilities.shape}.")
    out = []
    for depth in range(1, hierarchy.max_depth + 1):
        labels = hierarchy.labels_at_level(depth)
        marginal = np.zeros((len(probabilities), len(hierarchy.level(depth))))
        np.add.at(marginal.T, labels, probabilities.T)
        out.append(marginal.argmax(axis=1))
    return out


def _checked(level_preds, hierarchy):
    hierarchy = as_hierarchy(hierarchy)
    level_preds = [np.asarray(p).reshape(-1).astype(np.int64) for p in level_preds]
    if len(level_preds) != hierarchy.max_depth:
        raise ValueError(f"Expected one prediction per level 1..{hierarchy.max_depth}; got {len(level_preds)}.")
    for depth, p in enumerate(level_preds, start=1):
        size = len(hierarchy.level(depth))
        if len(p) != len(level_preds[0]):
            raise ValueError(f"Level {depth} has {len(p)} predictions, level 1 has {len(level_preds[0])}.")
        if p.size and (p.min() < 0 or p.max() >= size):
            raise ValueError(f"Level {depth} predictions must be in 0..{size - 1} (indices into level({depth})).")
    return hierarchy, level_preds


def full_path_accuracy(y_true, level_preds, hierarchy):
    """The share of samples whose prediction is right at every level.

    Args:
        y_true: int class labels [n].
        level_preds: per depth 1 .. max_depth, int arrays [n] of indices into `hierarchy.level(depth)`.
        hierarchy: a `Hierarchy` or its JSON.

    Returns:
        A float (0.0 for no samples).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> full_path_accuracy([0, 1], [[0, 0], [0, 0]], h)  # cat right twice; dog: animal right, cat wrong
    0.5
    """
    hierarchy, level_preds = _checked(level_preds, hierarchy)
    labels = np.asarray(y_true).reshape(-1).astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= hierarchy.num_classes):
        raise ValueError(f"Labels must be in 0..{hierarchy.num_classes - 1}.")
    if not labels.size:
        return 0.0
    right = np.ones(len(labels), bool)
    for depth, p in enumerate(level_preds, start=1):
        right &= p == hierarchy.labels_at_level(depth)[labels]
    return float(right.mean())


def level_parents(hierarchy, depth):
    """int array: for each node of `level(depth)`, the index in `level(depth - 1)` of the node above it."""
    hierarchy = as_hierarchy(hierarchy)
    parents = np.zeros(len(hierarchy.level(depth)), np.int64)
    parents[hierarchy.labels_at_level(depth)] = hierarchy.labels_at_level(depth - 1)
    return parents


def inconsistent_path_ratio(level_preds, hierarchy):
    """The share of samples whose predicted levels do not form a path: at some depth, the predicted node's parent
    (in the level above) is not the node predicted there.

    Args:
        level_preds: per depth 1 .. max_depth, int arrays [n] of indices into `hierarchy.level(depth)`.
        hierarchy: a `Hierarchy` or its JSON.

    Returns:
        A float (0.0 for no samples).

    Example:
    >>> from keras_hier import Hierarchy
    >>> h = Hierarchy.from_nested({"root": {"animal": ["cat", "dog"], "car": None}})
    >>> inconsistent_path_ratio([[0, 1], [1, 2]], h)  # animal then dog: a path; car then car: a path
    0.0
    >>> inconsistent_path_ratio([[1], [0]], h)  # car, then cat: cat is not under car
    1.0
    """
    hierarchy, level_preds = _checked(level_preds, hierarchy)
    if not level_preds[0].size:
        return 0.0
    broken = np.zeros(len(level_preds[0]), bool)
    for depth in range(2, hierarchy.max_depth + 1):
        broken |= level_parents(hierarchy, depth)[level_preds[depth - 1]] != level_preds[depth - 2]
    return float(broken.mean())
