"""Multi-label data for zero-shot learning: Fashion-MNIST mosaics (offline), MS-COCO 2014 and NUS-WIDE-81 labels.

**Fashion-MNIST mosaics** stand in for COCO offline. A mosaic is a 2x2 grid of Fashion-MNIST images (56x56);
each cell holds an image of a random class or, with `empty_probability`, stays black. The target label space
is 7 classes, 5 seen and 2 unseen (`MOSAIC_TARGETS`, `MOSAIC_UNSEEN`); a mosaic's labels are the target
classes of its cells. The other 3 classes (`MOSAIC_EXTERNAL`) play ImageNet: they appear in mosaics without
labels, and a single-label classifier trained on single images of them (`external_classifier_data`) is the
frozen backbone. External and target classes are disjoint but related through WordNet, seen and unseen targets
alike (the model learns the transfer on the seen ones): Sneaker and the unseen Sandal have the external Ankle boot,
T-shirt and the unseen Shirt the external Pullover and Coat, as COCO's dog has ImageNet's breeds and its sheep the
bighorn.
"""

import json
import os

import numpy as np

from keras_hier.datasets import fashion_mnist

MOSAIC_TARGETS = ("T-shirt/top", "Trouser", "Dress", "Sandal", "Shirt", "Sneaker", "Bag")
MOSAIC_UNSEEN = ("Sandal", "Shirt")
MOSAIC_EXTERNAL = ("Pullover", "Coat", "Ankle boot")
_REQUIRE = (None, "seen", "target")


def make_mosaics(images, labels, num_mosaics, targets=MOSAIC_TARGETS, unseen=MOSAIC_UNSEEN, grid=2,
                 empty_probability=0.25, require=None, seed=0):
    """Mosaics of single-label images and their multi-hot target labels.

    Args:
        images: uint8 [N, h, w] single images; labels: their int class labels (indices of `class_names`).
        num_mosaics: how many mosaics to make.
        targets: the target classes (Fashion-MNIST names) in label order.
        unseen: the unseen targets (only used by `require="seen"`).
        grid: cells per side.
        empty_probability: chance that a cell stays black.
        require: None, `"seen"` (every mosaic has a seen target, as training images must) or `"target"` (every
            mosaic has a target, as test images must); mosaics that fail are drawn again.
        seed: seed of the draw.

    Returns:
        `(mosaics uint8 [M, grid*h, grid*w], labels float32 [M, len(targets)], cells int64 [M, grid*grid])`,
        `cells` holding each cell's Fashion-MNIST class (-1 when empty).

    Example:
    >>> (x, y), _ = fashion_mnist.load_data()
    >>> mosaics, labels, cells = make_mosaics(x, y, 4)
    >>> mosaics.shape, labels.shape
    ((4, 56, 56), (4, 7))
    """
    if require not in _REQUIRE:
        raise ValueError(f"Unknown `require` {require!r}: use one of {_REQUIRE}.")
    if not 0 <= empty_probability < 1:
        raise ValueError(f"`empty_probability` must be in [0, 1); got {empty_probability}.")
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"Expected images [N, h, w] and N labels; got {images.shape} and {labels.shape}.")
    names = fashion_mnist.CLASS_NAMES
    unknown = [t for t in tuple(targets) + tuple(unseen) if t not in names]
    if unknown:
        raise ValueError(f"Unknown class {unknown[0]!r}: use Fashion-MNIST names {names}.")
    column = {names.index(t): j for j, t in enumerate(targets)}
    required = {"seen": [names.index(t) for t in targets if t not in unseen],
                "target": [names.index(t) for t in targets]}.get(require)
    rng = np.random.default_rng(seed)
    cells_per = grid * grid
    h, w = images.shape[1:]
    cells = np.empty((0, cells_per), np.int64)
    picks = np.empty((0, cells_per), np.int64)
    while len(cells) < num_mosaics:
        want = max(num_mosaics - len(cells), 16) * 2
        index = rng.integers(0, len(images), size=(want, cells_per))
        empty = rng.random((want, cells_per)) < empty_probability
        drawn = np.where(empty, -1, labels[index])
        ok = np.isin(drawn, required).any(axis=1) if required is not None else np.ones(want, bool)
        cells = np.concatenate([cells, drawn[ok]])
        picks = np.concatenate([picks, np.where(empty, -1, index)[ok]])
    cells, picks = cells[:num_mosaics], picks[:num_mosaics]
    mosaics = np.zeros((num_mosaics, grid * h, grid * w), np.uint8)
    for c in range(cells_per):
        r, q = divmod(c, grid)
        filled = picks[:, c] >= 0
        mosaics[filled, r * h : (r + 1) * h, q * w : (q + 1) * w] = images[picks[filled, c]]
    multi_hot = np.zeros((num_mosaics, len(targets)), np.float32)
    for cls, j in column.items():
        multi_hot[:, j] = (cells == cls).any(axis=1)
    return mosaics, multi_hot, cells


def external_classifier_data(images, labels, external=MOSAIC_EXTERNAL, grid=2, seed=0):
    """Single images of the external classes, each in a random cell of an otherwise black mosaic-sized canvas:
    the training set of the frozen "ImageNet" classifier, at the mosaics' scale.

    Returns:
        `(canvases uint8 [M, grid*h, grid*w], labels int32 [M])` with labels indexing `external`.
    """
    names = fashion_mnist.CLASS_NAMES
    classes = [names.index(e) for e in external]
    keep = np.flatnonzero(np.isin(labels, classes))
    rng = np.random.default_rng(seed)
    h, w = images.shape[1:]
    canvases = np.zeros((len(keep), grid * h, grid * w), np.uint8)
    cell = rng.integers(0, grid * grid, size=len(keep))
    for c in range(grid * grid):
        r, q = divmod(c, grid)
        mine = cell == c
        canvases[mine, r * h : (r + 1) * h, q * w : (q + 1) * w] = images[keep[mine]]
    lookup = {cls: i for i, cls in enumerate(classes)}
    return canvases, np.array([lookup[int(y)] for y in labels[keep]], np.int32)


def load_coco(instances_json, classes=None, unseen=None, split="train"):
    """Multi-hot labels of MS-COCO 2014 images from an instances annotation file, in the zero-shot setting.

    Args:
        instances_json: `annotations/instances_train2014.json` or `instances_val2014.json`.
        classes: the class names in label order (default: the 80 COCO classes, `label_sets.COCO_CLASSES`).
        unseen: the unseen classes (default: the paper's 16, `label_sets.COCO_UNSEEN`).
        split: `"train"` keeps images with a seen label and drops the unseen annotations (the images stay, as
            the official code); `"test"` keeps images with any label, all annotations.

    Returns:
        `(file_names, labels float32 [images, classes])`.
    """
    from keras_hier.knowledge import label_sets

    classes = list(classes or label_sets.COCO_CLASSES)
    unseen = list(label_sets.COCO_UNSEEN if unseen is None else unseen)
    try:
        with open(os.fspath(instances_json), encoding="utf-8") as f:
            data = json.load(f)
        by_name = {c["name"]: c["id"] for c in data["categories"]}
    except (ValueError, RecursionError, KeyError, TypeError) as e:
        raise ValueError(f"{instances_json} is not a COCO instances file (JSON with \"categories\" of "
                         f"{{\"id\", \"name\"}} and \"annotations\"): {type(e).__name__}: {e}") from None
    missing = [c for c in classes if c not in by_name]
    if missing:
        raise ValueError(f"Class(es) {missing[:5]} are not categories of {instances_json}.")
    column = {by_name[c]: j for j, c in enumerate(classes)}
    row = {img["id"]: i for i, img in enumerate(data["images"])}
    labels = np.zeros((len(data["images"]), len(classes)), np.float32)
    for ann in data["annotations"]:
        if ann["category_id"] in column:
            labels[row[ann["image_id"]], column[ann["category_id"]]] = 1.0
    files = [img["file_name"] for img in data["images"]]
    return _zero_shot_rows(files, labels, [classes.index(u) for u in unseen], split)


def load_nus_wide(root, split="train", classes=None, unseen=None):
    """Multi-hot labels of NUS-WIDE-81 from its official lists, in the zero-shot setting.

    Reads `ImageList/{Train,Test}Imagelist.txt` and `TrainTestLabels/Labels_<concept>_{Train,Test}.txt` (one 0/1
    per image) under `root`. Images that could not be crawled are the user's to drop (by file name).

    Args:
        root: the NUS-WIDE folder.
        split: `"train"` (images with a seen label; unseen labels zeroed) or `"test"` (images with any label).
        classes: the concepts in label order (default: the 81, `label_sets.NUS_WIDE_CLASSES`).
        unseen: the unseen concepts (default: the paper's 16, `label_sets.NUS_WIDE_UNSEEN`).

    Returns:
        `(image paths relative to the image folder, labels float32 [images, classes])`.
    """
    from keras_hier.knowledge import label_sets

    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}: use 'train' or 'test'.")
    classes = list(classes or label_sets.NUS_WIDE_CLASSES)
    unseen = list(label_sets.NUS_WIDE_UNSEEN if unseen is None else unseen)
    part = "Train" if split == "train" else "Test"
    root = os.fspath(root)
    list_file = os.path.join(root, "ImageList", f"{part}Imagelist.txt")
    if not os.path.exists(list_file):
        raise ValueError(f"{list_file} not found: `root` must be the NUS-WIDE folder holding ImageList/.")
    with open(list_file, encoding="utf-8") as f:
        files = [line.strip().replace("\\", "/") for line in f if line.strip()]
    labels = np.zeros((len(files), len(classes)), np.float32)
    for j, concept in enumerate(classes):
        path = os.path.join(root, "TrainTestLabels", f"Labels_{concept}_{part}.txt")
        if not os.path.exists(path):
            raise ValueError(f"{path} not found: no label list for concept {concept!r}.")
        values = np.loadtxt(path, dtype=np.float32, ndmin=1)
        if len(values) != len(files):
            raise ValueError(f"{path} has {len(values)} lines for {len(files)} images.")
        labels[:, j] = values
    return _zero_shot_rows(files, labels, [classes.index(u) for u in unseen], split)


def _zero_shot_rows(files, labels, unseen_columns, split):
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}: use 'train' or 'test'.")
    if split == "train":
        labels = labels.copy()
        labels[:, unseen_columns] = 0.0
    keep = np.flatnonzero(labels.any(axis=1))
    return [files[i] for i in keep], labels[keep]
