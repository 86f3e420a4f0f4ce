"""ImageNet-21K style folders (one folder per WordNet id): the ImageNet-21K-D class hierarchy and HGR-Net's
zero-shot split (seen ImageNet-1k classes, unseen classes of the rest)."""

import dataclasses

import numpy as np

from keras_hier.hierarchy import Hierarchy

SPLITS = ("train", "val", "test")
UNSEEN_SETS = ("all", "2-hops", "3-hops")


def imagenet21k_hierarchy(wnids, root="root"):
    """The ImageNet-21K-D hierarchy over a set of classes: WordNet's hypernym DAG kept to the classes.

    HGR-Net's construction (METHODS.md 2.9): take the hypernym DAG above the classes, delete every node that
    is not a class and connect each of its parents to each of its children. So class `p` is a parent of class
    `c` when a chain of hypernym (or instance-hypernym) links leads from `c` up to `p` through non-classes
    only; classes with no class above them hang from `root`. A class may have children (ImageNet-21K labels
    images "dog" and "chihuahua" alike), so the hierarchy has `internal_classes`; it is a DAG where WordNet
    is. HGR-Net read the DAG from ImageNet's `structure_release.xml`, whose is-a links are WordNet 3.0's
    hypernyms; keras_hier reads them from WordNet, which works offline for any list of ids.

    Args:
        wnids: the classes as WordNet ids (`n02084071`), in label order.
        root: the name of the added root node.

    Returns:
        A `keras_hier.Hierarchy` with the classes as `leaves` (in the given order), named by their first
        WordNet lemma.

    Raises:
        ValueError: for a malformed or unknown WordNet id, or a repeated class.

    Example:
    >>> h = imagenet21k_hierarchy(["n02084071", "n02085620", "n02121620"])  # dog, chihuahua, cat
    >>> [h.name(n) for n in h.path("n02085620")]
    ['root', 'dog', 'Chihuahua']
    """
    from keras_hier.knowledge import wordnet

    synsets = wordnet.as_synsets(list(wnids))
    classes = [wordnet.wnid(s) for s in synsets]
    if len(set(classes)) != len(classes):
        dup = next(c for c in classes if classes.count(c) > 1)
        raise ValueError(f"Class {dup!r} is listed twice.")
    if root in set(classes):
        raise ValueError(f"The root name {root!r} is also a class: pass another `root`.")
    class_set = set(classes)
    nearest = {}  # synset -> the nearest classes strictly above it (non-classes bypassed)

    def classes_above(synset):
        if synset not in nearest:
            found = []
            for up in synset.hypernyms() + synset.instance_hypernyms():
                w = wordnet.wnid(up)
                found.extend([w] if w in class_set else classes_above(up))
            nearest[synset] = list(dict.fromkeys(found))
        return nearest[synset]

    parents = {c: classes_above(s) for c, s in zip(classes, synsets)}
    names = {c: s.lemma_names()[0].replace("_", " ") for c, s in zip(classes, synsets)}
    return Hierarchy(parents, leaves=classes, root=root, names=names, internal_classes=True)


@dataclasses.dataclass(frozen=True)
class ZeroShotFolders:
    """ImageNet-21K style images with their hierarchy and HGR-Net's zero-shot split.

    Attributes:
        hierarchy: the ImageNet-21K-D hierarchy of every class found (`imagenet21k_hierarchy`).
        files: every image file, grouped by class.
        labels: int32 [len(files)]: each image's class label (index in `hierarchy.leaves`).
        seen: sorted int array of the seen class labels.
        unseen: sorted int array of the unseen class labels (the chosen unseen set).
        splits: dict split -> int array of image indices: `train` (every image of the seen classes),
            `val` (up to `val_images_per_class` random images of each unseen class) and `test` (every image of
            the unseen classes; `val` is part of it, as in HGR-Net).
    """

    hierarchy: Hierarchy
    files: tuple
    labels: np.ndarray
    seen: np.ndarray
    unseen: np.ndarray
    splits: dict

    def dataset(self, split, image_size=(224, 224), batch_size=32, shuffle=None, seed=0, channels=3):
        """A tf.data pipeline of `(images, labels)` for `split` (see `image_folder.files_dataset`).

        Args:
            split: `"train"`, `"val"` or `"test"`.
            image_size: `(height, width)` after resizing.
            batch_size: images per batch.
            shuffle: shuffle each epoch (default: for `train` only).
            seed: seed of the shuffle.
            channels: 3 (RGB) or 1 (grey).
        """
        from keras_hier.datasets.image_folder import files_dataset

        if split not in SPLITS:
            raise ValueError(f"Unknown split {split!r}: use one of {SPLITS}.")
        idx = self.splits[split]
        return files_dataset(
            [self.files[i] for i in idx],
            self.labels[idx],
            image_size=image_size,
            batch_size=batch_size,
            shuffle=split == "train" if shuffle is None else shuffle,
            seed=seed,
            channels=channels,
        )


def load_zero_shot(path, seen=None, unseen="all", val_images_per_class=50, seed=0):
    """Lists an ImageNet-21K style folder (`path/<wnid>/<image>`) and builds HGR-Net's zero-shot setting.

    Every class folder becomes a class of the ImageNet-21K-D hierarchy. The seen classes (default: the
    ImageNet-1k classes among the folders) give the training images; the unseen classes are the others, or
    only those within 2 or 3 WordNet hops of a seen class (`unseen="2-hops"` / `"3-hops"`, the protocol of
    Wang et al. 2018). Classes outside the chosen unseen set stay in the hierarchy (the loss can use them as
    negatives) but have no images in any split.

    Args:
        path: folder with one sub-folder per WordNet id.
        seen: optional seen classes (WordNet ids); default the ImageNet-1k ids found in `path`.
        unseen: `"all"`, `"2-hops"` or `"3-hops"`.
        val_images_per_class: images of each unseen class drawn (at random, from `seed`) for `val`.
        seed: seed of the `val` draw.

    Returns:
        A `ZeroShotFolders`.

    Raises:
        ValueError: for a folder that is not a WordNet id, an empty class folder, a seen class without a
            folder, no seen or no unseen class, or an unknown `unseen` set.

    Example:
    >>> data = load_zero_shot("/data/imagenet21k/train", unseen="2-hops")  # doctest: +SKIP
    >>> train = data.dataset("train", batch_size=256)  # doctest: +SKIP
    """
    import os
    import re

    from keras_hier.datasets.image_folder import list_images
    from keras_hier.datasets.zero_shot import hop_sets
    from keras_hier.knowledge.imagenet import imagenet1k_wnids

    if unseen not in UNSEEN_SETS:
        raise ValueError(f"Unknown unseen set {unseen!r}: use one of {UNSEEN_SETS}.")
    if int(val_images_per_class) < 1:
        raise ValueError(f"`val_images_per_class` must be at least 1; got {val_images_per_class}.")
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ValueError(f"Image folder {path!r} does not exist.")
    folders = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    odd = [d for d in folders if not re.fullmatch(r"n\d{8}", d)]
    if odd:
        raise ValueError(
            f"Folder(s) {odd[:5]} in {path!r} are not WordNet noun ids like 'n02084071': an ImageNet-21K style "
            "folder holds one sub-folder per WordNet id. Move the others out."
        )
    if not folders:
        raise ValueError(f"{path!r} has no class sub-folders (expected {path}/<wnid>/<image>).")
    hierarchy = imagenet21k_hierarchy(folders)
    files, labels, _ = list_images(path, folders)

    if seen is None:
        seen_ids = [w for w in imagenet1k_wnids() if w in set(folders)]
        if not seen_ids:
            raise ValueError(f"No ImageNet-1k class folder in {path!r}: pass the seen classes as `seen=`.")
    else:
        seen_ids = [str(w) for w in seen]
        missing = [w for w in seen_ids if w not in set(folders)]
        if missing:
            raise ValueError(f"Seen class(es) {missing[:5]} have no folder in {path!r}.")
    seen_set = set(seen_ids)
    rest = [w for w in folders if w not in seen_set]
    if unseen != "all":
        rest = hop_sets(seen_ids, rest, hops=(int(unseen[0]),))[int(unseen[0])]
    if not rest:
        raise ValueError(f"No unseen class: every folder is seen, or none is within {unseen} of a seen class.")
    index = {w: i for i, w in enumerate(hierarchy.leaves)}
    seen_labels = np.array(sorted(index[w] for w in seen_ids), np.int64)
    unseen_labels = np.array(sorted(index[w] for w in rest), np.int64)

    rng = np.random.default_rng(seed)
    test = np.flatnonzero(np.isin(labels, unseen_labels))
    val = []
    for label in unseen_labels:
        mine = np.flatnonzero(labels == label)
        val.append(np.sort(rng.choice(mine, size=min(len(mine), int(val_images_per_class)), replace=False)))
    splits = {
        "train": np.flatnonzero(np.isin(labels, seen_labels)),
        "val": np.concatenate(val),
        "test": test,
    }
    return ZeroShotFolders(hierarchy, tuple(files), labels, seen_labels, unseen_labels, splits)
