"""Class grouping from a confusion-probability matrix (HierNet, Tempfli & Sandor, section 4)."""

import numpy as np


def confusion_probability_matrix(model, dataset, num_classes, from_logits=False):
    """The confusion-probability matrix (CPM) of a classifier on a data set.

    Row `i` is the mean predicted probability vector over the images of true class `i`: `CPM[i, j]` is the
    chance that an image of class `i` is predicted as class `j`. Rows sum to 1. Compute it on a validation
    split, never on the test split.

    Args:
        model: a Keras model (or any callable) mapping an image batch to class probabilities.
        dataset: iterable of `(images, labels)` batches (a `tf.data.Dataset`), integer labels.
        num_classes: number of classes C.
        from_logits: apply a softmax to the model's outputs first.

    Returns:
        float64 array [C, C].

    Raises:
        ValueError: for labels outside 0..C-1, a class without images, or outputs that are not
            probabilities (use `from_logits=True` for logits).

    Example:
    >>> import keras
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Softmax()])
    >>> batch = (np.array([[0.0, 0.0], [2.0, 0.0]], np.float32), np.array([0, 1]))
    >>> confusion_probability_matrix(model, [batch], 2).round(3).tolist()
    [[0.5, 0.5], [0.881, 0.119]]
    """
    totals = np.zeros((num_classes, num_classes), np.float64)
    counts = np.zeros(num_classes, np.int64)
    for images, labels in dataset:
        labels = np.asarray(labels).reshape(-1).astype(np.int64)
        probs = np.asarray(model(images, training=False) if hasattr(model, "trainable_variables") else model(images))
        probs = probs.astype(np.float64)
        if probs.ndim != 2 or probs.shape[1] != num_classes:
            raise ValueError(f"The model outputs shape {probs.shape}; expected [batch, {num_classes}].")
        if from_logits:
            probs = np.exp(probs - probs.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
        elif len(probs) and not np.allclose(probs.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("The model's outputs do not sum to 1: pass from_logits=True if it returns logits.")
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise ValueError(f"Label {int(labels[bad][0])} is outside the class range 0..{num_classes - 1}.")
        np.add.at(totals, labels, probs)
        counts += np.bincount(labels, minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"Class(es) {empty[:10].tolist()} have no images in the data set: the CPM needs every class."
        )
    return totals / counts[:, None]


def group_classes(cpm, p_min, g_max):
    """Agglomerative grouping of classes by their back-and-forth confusion (HierNet, section 4).

    Starts from one group per class. The proximity of two groups is the mean of `CPM[a, b] + CPM[b, a]` over
    all pairs `a` in one group and `b` in the other. At each step the pair of groups with the highest
    proximity is merged, provided the proximity is strictly above `p_min` and the merged group has at most
    `g_max` classes; grouping stops when no pair qualifies. As the official code: ties go to the pair that
    comes first in the current list order, and a merged group (first group's members, then the second's) is
    appended at the end of the list.

    Args:
        cpm: confusion-probability matrix [C, C].
        p_min: minimum proximity for a merge (the paper uses 0.005 - 0.0075 for CIFAR-100).
        g_max: maximum group size (the paper: 50).

    Returns:
        list of groups, each a list of class indices; singletons that never merged come first.

    Example:
    >>> cpm = np.array([[0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.02, 0.03, 0.95]])
    >>> group_classes(cpm, p_min=0.1, g_max=3)  # 0 and 1 are confused 0.15 + 0.1 = 0.25 > 0.1
    [[2], [0, 1]]
    """
    cpm = np.asarray(cpm, np.float64)
    if cpm.ndim != 2 or cpm.shape[0] != cpm.shape[1] or cpm.shape[0] == 0:
        raise ValueError(f"`cpm` must be a non-empty square matrix; got shape {cpm.shape}.")
    if not np.isfinite(cpm).all():
        raise ValueError("`cpm` contains NaN or inf.")
    if g_max < 1:
        raise ValueError(f"`g_max` must be >= 1; got {g_max}.")
    proximity = cpm + cpm.T
    groups = [[i] for i in range(len(cpm))]
    # sums[i, j]: total proximity between groups i and j (kept in the list order of `groups`).
    sums = proximity.copy()
    while True:
        sizes = np.array([len(g) for g in groups])
        with np.errstate(invalid="ignore"):
            mean = sums / np.outer(sizes, sizes)
        allowed = (np.add.outer(sizes, sizes) <= g_max) & (mean > p_min)
        allowed &= np.triu(np.ones_like(allowed), k=1).astype(bool)
        if not allowed.any():
            return groups
        best = np.where(allowed, mean, -np.inf)
        i, j = np.unravel_index(int(np.argmax(best)), best.shape)  # first maximum in (i, j) row-major order
        merged_row = sums[i] + sums[j]
        keep = [k for k in range(len(groups)) if k not in (i, j)]
        new_sums = np.empty((len(keep) + 1, len(keep) + 1))
        new_sums[:-1, :-1] = sums[np.ix_(keep, keep)]
        new_sums[-1, :-1] = new_sums[:-1, -1] = merged_row[keep]
        new_sums[-1, -1] = 0.0
        groups = [groups[k] for k in keep] + [groups[i] + groups[j]]
        sums = new_sums


def _per_level(value, levels, name):
    """One value per level from a scalar or a sequence of at least `levels` values."""
    if np.isscalar(value):
        return [value] * levels
    value = list(value)
    if len(value) < levels:
        raise ValueError(f"`{name}` has {len(value)} values for {levels} levels: give one per level, or one for all.")
    return value


def hierarchy_from_confusion(cpm, class_names, p_min, g_max, levels=1):
    """A class hierarchy from a confusion-probability matrix, by `group_classes` applied recursively.

    Level 1 groups all classes; with `levels=2` each group of three or more classes is grouped again on its
    own sub-matrix (rows restricted to the group's columns and renormalised to sum to 1: the confusion
    between members given that the prediction stays in the group), and so on. Groups become internal nodes
    (`g1`, `g2`, ... and `g1.1`, ... below them, named after their first members); classes that never merge
    stay as leaves directly under their parent. A grouping that would put a whole group into one sub-group
    adds no level there.

    Args:
        cpm: confusion-probability matrix [C, C].
        class_names: the C class names in label order (the hierarchy's leaves).
        p_min: minimum proximity, one value or one per level.
        g_max: maximum group size, one value or one per level.
        levels: how many levels of groups (1 gives root -> groups -> classes).

    Returns:
        A `keras_hier.Hierarchy` with root `"root"` and the classes as leaves in label order.

    Example:
    >>> cpm = np.array([[0.8, 0.15, 0.05], [0.1, 0.85, 0.05], [0.02, 0.03, 0.95]])
    >>> h = hierarchy_from_confusion(cpm, ["cat", "dog", "car"], p_min=0.1, g_max=3)
    >>> h.children("root"), h.children("g1")
    (('car', 'g1'), ('cat', 'dog'))
    """
    from keras_hier.hierarchy import Hierarchy

    cpm = np.asarray(cpm, np.float64)
    class_names = [str(n) for n in class_names]
    if cpm.ndim != 2 or cpm.shape != (len(class_names), len(class_names)):
        raise ValueError(f"`cpm` has shape {cpm.shape} but {len(class_names)} class names were given.")
    if len(set(class_names)) != len(class_names):
        dup = next(n for n in class_names if class_names.count(n) > 1)
        raise ValueError(f"Duplicate class name {dup!r}.")
    if levels < 1:
        raise ValueError(f"`levels` must be >= 1; got {levels}.")
    p_min, g_max = _per_level(p_min, levels, "p_min"), _per_level(g_max, levels, "g_max")
    parents, names = {}, {}

    def split(members, parent, prefix, level):
        sub = cpm[np.ix_(members, members)]
        sub = sub / np.maximum(sub.sum(axis=1, keepdims=True), 1e-12)
        groups = group_classes(sub, p_min[level], g_max[level])
        if len(groups) == 1:
            groups = [[k] for k in range(len(members))]  # one group of everything = no new level
        count = 0
        for group in groups:
            ids = [members[k] for k in group]
            if len(ids) == 1:
                parents[class_names[ids[0]]] = parent
                continue
            count += 1
            node = f"{prefix}{count}"
            parents[node] = parent
            shown = ", ".join(class_names[i] for i in ids[:3]) + (", ..." if len(ids) > 3 else "")
            names[node] = f"{node}: {shown}"
            if level + 1 < levels and len(ids) > 2:
                split(ids, node, f"{node}.", level + 1)
            else:
                for i in ids:
                    parents[class_names[i]] = node

    split(list(range(len(class_names))), "root", "g", 0)
    return Hierarchy.from_parents({"root": [], **parents}, leaves=class_names, names=names)
