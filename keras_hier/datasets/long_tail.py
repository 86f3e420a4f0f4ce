"""Long-tailed subsets (the ImageNet-LT recipe) and the many / medium / few-shot class groups."""

import numpy as np

from keras_hier._io import is_decimal

#: Class groups by training count, as OLTR (Liu et al., CVPR 2019) defines them.
MANY_SHOT_MIN = 101  # many-shot: more than 100 training images
FEW_SHOT_MAX = 19  # few-shot: fewer than 20; medium-shot: 20 to 100


def pareto_counts(num_classes, max_per_class, min_per_class=5, alpha=6.0):
    """Per-rank class sizes following a Pareto profile, from `max_per_class` down to `min_per_class`.

    ImageNet-LT (Liu et al. 2019) samples class sizes "following the Pareto distribution with power value
    alpha = 6" from 1,280 down to 5 images. keras_hier makes that deterministic: rank r of C gets
    `max_per_class * x_r ** -(alpha + 1)` (the Pareto density) at evenly spaced `x_r` from 1 to
    `(max/min) ** (1 / (alpha + 1))`, so the head has `max_per_class` and the tail `min_per_class`.
    With C = 1000 this gives 36 % many-shot classes (ImageNet-LT: 38.5 %).

    Args:
        num_classes: number of classes C.
        max_per_class: size of the largest class (rank 0).
        min_per_class: size of the smallest class (rank C - 1).
        alpha: the Pareto shape.

    Returns:
        int64 array [C], non-increasing.

    Example:
    >>> pareto_counts(10, 6000, 5).tolist()
    [6000, 1726, 599, 239, 106, 51, 27, 15, 8, 5]
    """
    if num_classes < 1:
        raise ValueError(f"`num_classes` must be >= 1; got {num_classes}.")
    if not 1 <= min_per_class <= max_per_class:
        raise ValueError(f"Need 1 <= min_per_class <= max_per_class; got {min_per_class}, {max_per_class}.")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"`alpha` must be a positive number; got {alpha}.")
    if num_classes == 1:
        return np.array([max_per_class], np.int64)
    x_max = (max_per_class / min_per_class) ** (1.0 / (alpha + 1.0))
    x = np.linspace(1.0, x_max, num_classes)
    counts = np.rint(max_per_class * x ** -(alpha + 1.0)).astype(np.int64)
    return np.clip(counts, min_per_class, max_per_class)


def pareto_subsample(labels, max_per_class=None, min_per_class=5, alpha=6.0, seed=0, num_classes=None):
    """Indices of a long-tailed subset of a balanced data set, following the ImageNet-LT recipe.

    Classes are ranked in a random order (from `seed`), rank r gets `pareto_counts(...)[r]` images, and
    that many of its images are drawn at random without replacement.

    Args:
        labels: int labels [N] of the full training set.
        max_per_class: size of the head class (default: the size of the smallest class).
        min_per_class: size of the tail class (ImageNet-LT: 5).
        alpha: the Pareto shape (ImageNet-LT: 6).
        seed: seed of the class ranking and of the sampling.
        num_classes: optional number of classes (default: `max(labels) + 1`); every class needs images.

    Returns:
        Sorted int64 indices into `labels`.

    Example:
    >>> y = np.repeat(np.arange(4), 50)  # 4 balanced classes of 50
    >>> keep = pareto_subsample(y, max_per_class=50, min_per_class=2, seed=0)
    >>> np.bincount(y[keep]).tolist()  # sizes 50, 14, 5, 2 in a seeded class order
    [14, 5, 50, 2]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"`labels` must be a non-empty 1-D array of class ids; got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError("`labels` must be non-negative integers.")
    num_classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.max() >= num_classes:
        raise ValueError(f"Label {int(labels.max())} is outside the class range 0..{num_classes - 1}.")
    sizes = np.bincount(labels, minlength=num_classes)
    if (sizes == 0).any():
        raise ValueError(f"Class(es) {np.flatnonzero(sizes == 0)[:10].tolist()} have no images.")
    if max_per_class is None:
        max_per_class = int(sizes.min())
    counts = pareto_counts(num_classes, int(max_per_class), int(min_per_class), alpha)
    rng = np.random.default_rng(seed)
    ranking = rng.permutation(num_classes)
    keep = []
    for rank, c in enumerate(ranking):
        idx = np.flatnonzero(labels == c)
        if counts[rank] > len(idx):
            raise ValueError(
                f"Class {int(c)} has {len(idx)} images but rank {rank} needs {counts[rank]}: lower max_per_class."
            )
        keep.append(rng.choice(idx, size=counts[rank], replace=False))
    return np.sort(np.concatenate(keep))


def shot_groups(train_counts):
    """Splits classes into many-shot (> 100 training images), medium-shot (20..100) and few-shot (< 20).

    Args:
        train_counts: training images per class [C].

    Returns:
        dict with keys `"many"`, `"medium"`, `"few"`, each an int64 array of class ids.

    Example:
    >>> {k: v.tolist() for k, v in shot_groups([500, 100, 20, 19]).items()}
    {'many': [0], 'medium': [1, 2], 'few': [3]}
    """
    counts = np.asarray(train_counts)
    if counts.ndim != 1:
        raise ValueError(f"`train_counts` must be 1-D (one count per class); got shape {counts.shape}.")
    if (counts < 0).any():
        raise ValueError("`train_counts` must be non-negative.")
    return {
        "many": np.flatnonzero(counts >= MANY_SHOT_MIN),
        "medium": np.flatnonzero((counts > FEW_SHOT_MAX) & (counts < MANY_SHOT_MIN)),
        "few": np.flatnonzero(counts <= FEW_SHOT_MAX),
    }


def read_split_file(path, root=None, num_classes=None, check_files=True):
    """Image paths and labels of an ImageNet-LT / Places-LT split file (`<relative path> <label>` per line, e.g.
    `ImageNet_LT_train.txt`), for users who have the images.

    Args:
        path: the split file.
        root: optional folder the relative paths start from (joined in front of them).
        num_classes: optional number of classes; a label outside 0..num_classes-1 raises.
        check_files: check that every listed file exists (a stat per file), so that a wrong `root` or a missing
            image fails here, naming the files, not in the middle of training.

    Returns:
        `(files, labels int64 [N])`.

    Raises:
        ValueError: naming the line that is not `<path> <int label>`, a label out of range, or the first missing
            files.

    Example:
    >>> files, labels = read_split_file("ImageNet_LT_train.txt", root="/data/imagenet")  # doctest: +SKIP
    """
    import os

    files, labels = [], []
    with open(os.fspath(path), encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            name, _, label = line.rpartition(" ")
            if not name or not is_decimal(label.removeprefix("-")):
                raise ValueError(f"{path}, line {number}: expected '<path> <label>', got {line!r}.")
            files.append(os.path.join(root, name) if root else name)
            labels.append(int(label))
    labels = np.asarray(labels, np.int64)
    if not len(labels):
        raise ValueError(f"{path} lists no image.")
    top = num_classes if num_classes is not None else labels.max() + 1
    bad = (labels < 0) | (labels >= top)
    if bad.any():
        raise ValueError(f"{path}: label {labels[bad][0]} is outside 0..{top - 1}.")
    if check_files:
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            raise ValueError(f"{path} lists {len(missing)} file(s) that do not exist, e.g. {missing[:3]}"
                             + ("" if root else " (relative to the working folder: pass `root`, the folder the "
                                "paths start from)") + ".")
    return files, labels
