"""ImageNet-21K-D hierarchy (WordNet DAG kept to the classes) and the zero-shot folder split, on a tiny folder."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hier.datasets.imagenet21k import imagenet21k_hierarchy, load_zero_shot
from keras_hier.node_tables import NodeTables

IDS = {
    "domestic animal": "n01317541", "canine": "n02083346", "dog": "n02084071", "Chihuahua": "n02085620",
    "cat": "n02121620", "tabby": "n02123045", "car": "n02958343",
}
COUNTS = {"domestic animal": 3, "canine": 2, "dog": 5, "Chihuahua": 4, "cat": 1, "tabby": 3, "car": 2}


def test_hierarchy_bypasses_non_classes():
    h = imagenet21k_hierarchy(list(IDS.values()))
    assert h.leaves == tuple(IDS.values()) and h.internal_classes and not h.is_tree
    parents = {h.name(n): sorted(h.name(p) for p in h.parents(n)) for n in h.leaves}
    # Chihuahua -> toy dog -> dog: "toy dog" is not a class, so dog is Chihuahua's parent. dog is both a canine
    # and a domestic animal; tabby -> domestic cat -> {cat, domestic animal}; the rest reach no class: root.
    assert parents == {
        "domestic animal": ["root"], "canine": ["root"], "dog": ["canine", "domestic animal"], "Chihuahua": ["dog"],
        "cat": ["root"], "tabby": ["cat", "domestic animal"], "car": ["root"],
    }
    assert h.descendant_leaves(IDS["dog"]) == [2, 3]
    tables = NodeTables(h)
    assert tables.num_nodes == 7 and tables.level[tables.index[IDS["Chihuahua"]]] == 2


def test_hierarchy_errors():
    with pytest.raises(ValueError, match="Unknown WordNet id 'n99999999'"):
        imagenet21k_hierarchy(["n02084071", "n99999999"])
    with pytest.raises(ValueError, match="listed twice"):
        imagenet21k_hierarchy(["n02084071", "n02084071"])


@pytest.fixture
def folder(tmp_path):
    for c, (name, wnid) in enumerate(IDS.items()):
        (tmp_path / wnid).mkdir()
        for i in range(COUNTS[name]):
            pixels = np.full((6, 6, 3), 30 * (c + 1), np.uint8)
            tf.io.write_file(str(tmp_path / wnid / f"{i}.png"), tf.io.encode_png(pixels))
    return tmp_path


def _names(data, labels):
    return sorted(data.hierarchy.name(data.hierarchy.leaves[i]) for i in labels)


def test_zero_shot_split(folder):
    data = load_zero_shot(folder, val_images_per_class=2, seed=3)
    h = data.hierarchy
    assert h.leaves == tuple(sorted(IDS.values())) and len(data.files) == sum(COUNTS.values())
    # Seen by default: the ImageNet-1k classes among the folders (Chihuahua and tabby).
    assert _names(data, data.seen) == ["Chihuahua", "tabby"]
    assert _names(data, data.unseen) == ["canine", "car", "cat", "dog", "domestic animal"]
    labels = data.labels
    assert _names(data, set(labels[data.splits["train"]])) == ["Chihuahua", "tabby"]
    assert len(data.splits["train"]) == 7 and len(data.splits["test"]) == 3 + 2 + 5 + 1 + 2
    # val: at most 2 images per unseen class, all of them test images.
    assert len(data.splits["val"]) == 2 + 2 + 2 + 1 + 2
    assert set(data.splits["val"]) <= set(data.splits["test"])
    assert np.bincount(labels[data.splits["val"]]).max() == 2
    for i in data.splits["test"]:
        assert h.leaves[labels[i]] in data.files[i]
    again = load_zero_shot(folder, val_images_per_class=2, seed=3)
    np.testing.assert_array_equal(again.splits["val"], data.splits["val"])

    images, y = next(iter(data.dataset("val", image_size=(4, 4), batch_size=64)))
    assert images.shape == (9, 4, 4, 3) and sorted(y.numpy().tolist()) == sorted(labels[data.splits["val"]].tolist())
    first = h.leaves.index(IDS["domestic animal"])
    shade = 30 * (list(IDS).index("domestic animal") + 1) / 255
    np.testing.assert_allclose(images.numpy()[y.numpy() == first], shade, atol=1e-6)


def test_hop_sets_and_explicit_seen(folder):
    # Hops from {Chihuahua, tabby}: dog, cat and domestic animal are 2 away, canine 3, car 13.
    two = load_zero_shot(folder, unseen="2-hops")
    assert _names(two, two.unseen) == ["cat", "dog", "domestic animal"]
    assert len(two.hierarchy.leaves) == 7  # classes outside the unseen set stay in the hierarchy
    three = load_zero_shot(folder, unseen="3-hops")
    assert _names(three, three.unseen) == ["canine", "cat", "dog", "domestic animal"]
    mine = load_zero_shot(folder, seen=[IDS["car"]])
    assert _names(mine, mine.seen) == ["car"] and len(mine.unseen) == 6


def test_zero_shot_errors(folder, tmp_path_factory):
    with pytest.raises(ValueError, match="Unknown unseen set"):
        load_zero_shot(folder, unseen="4-hops")
    with pytest.raises(ValueError, match="have no folder"):
        load_zero_shot(folder, seen=["n01440764"])
    with pytest.raises(ValueError, match="Unknown split"):
        load_zero_shot(folder).dataset("training")
    (folder / "misc").mkdir()
    with pytest.raises(ValueError, match=r"\['misc'\].*not WordNet noun ids"):
        load_zero_shot(folder)
    (folder / "misc").rmdir()
    (folder / "n02121808").mkdir()  # domestic cat, no image
    with pytest.raises(ValueError, match=r"Empty class folder\(s\) \['n02121808'\]"):
        load_zero_shot(folder)
    no_imagenet = tmp_path_factory.mktemp("no1k")
    (no_imagenet / IDS["car"]).mkdir()
    tf.io.write_file(str(no_imagenet / IDS["car"] / "0.png"), tf.io.encode_png(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(ValueError, match="No ImageNet-1k class folder"):
        load_zero_shot(no_imagenet)
