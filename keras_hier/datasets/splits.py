"""Stratified splits of labelled data."""

import numpy as np


def stratified_split(labels, fraction, seed=0):
    """Splits indices class by class: `round(fraction * n_c)` of each class's `n_c` examples go to the second part.

    HierNet halves the CIFAR-100 test set this way: a validation half for grouping and tuning, a test half
    evaluated once.

    Args:
        labels: int labels [N].
        fraction: share of each class in the second part, in (0, 1).
        seed: seed of the shuffle within each class.

    Returns:
        `(first, second)`: sorted int64 index arrays that partition `range(N)`.

    Example:
    >>> first, second = stratified_split(np.array([0, 0, 1, 1, 1, 1]), 0.5, seed=0)
    >>> len(first), len(second), sorted(np.array([0, 0, 1, 1, 1, 1])[second].tolist())
    (3, 3, [0, 1, 1])
    """
    labels = np.asarray(labels).reshape(-1)
    if not 0 < fraction < 1:
        raise ValueError(f"`fraction` must be in (0, 1); got {fraction}.")
    if not len(labels):
        raise ValueError("No labels to split: `labels` is empty.")
    rng = np.random.default_rng(seed)
    first, second = [], []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = int(round(len(idx) * fraction))
        second.append(idx[:k])
        first.append(idx[k:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
