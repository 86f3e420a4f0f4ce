"""Image folders: label order, subsets, splits, and errors for missing or empty classes."""

import numpy as np
import pytest
import tensorflow as tf

from keras_hier.datasets import image_folder
from keras_hier.datasets.splits import stratified_split


@pytest.fixture
def folder(tmp_path):
    # Three classes named by WordNet id, with 4, 2 and 3 images; each image's grey level encodes its class.
    for c, (wnid, n) in enumerate([("n02084071", 4), ("n02121620", 2), ("n02958343", 3)]):
        (tmp_path / wnid).mkdir()
        for i in range(n):
            pixels = np.full((6, 8, 3), 50 * (c + 1), np.uint8)
            tf.io.write_file(str(tmp_path / wnid / f"img{i}.png"), tf.io.encode_png(pixels))
    (tmp_path / "n02958343" / "notes.txt").write_text("not an image")
    return tmp_path


def test_load_in_given_order(folder):
    ds, names = image_folder.load(folder, ["n02958343", "n02084071"], image_size=(4, 4), batch_size=None, shuffle=False)
    assert names == ["n02958343", "n02084071"]
    items = [(x.numpy(), int(y)) for x, y in ds]
    assert [y for _, y in items] == [0, 0, 0, 1, 1, 1, 1]
    x, _ = items[0]
    assert x.shape == (4, 4, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x, 150 / 255, atol=1e-6)


def test_default_order_is_sorted_and_batched(folder):
    ds, names = image_folder.load(folder, image_size=(5, 5), batch_size=4, shuffle=True, seed=1)
    assert names == ["n02084071", "n02121620", "n02958343"]
    labels = np.concatenate([y.numpy() for _, y in ds])
    assert sorted(labels.tolist()) == [0, 0, 0, 0, 1, 1, 2, 2, 2]
    again = np.concatenate([y.numpy() for _, y in image_folder.load(folder, image_size=(5, 5), batch_size=4, seed=1)[0]])
    np.testing.assert_array_equal(labels, again)


def test_validation_split_is_stratified_and_disjoint(folder):
    files, labels, _ = image_folder.list_images(folder)
    train, val = stratified_split(labels, 0.5, seed=0)
    assert set(val).isdisjoint(train) and len(val) + len(train) == len(files)
    assert np.bincount(labels[val]).tolist() == [2, 1, 2]  # round(4/2), round(2/2), round(3/2)
    ds, _ = image_folder.load(folder, image_size=(4, 4), validation_split=0.5, subset="validation", batch_size=None)
    assert len(list(ds)) == 5


def test_errors(folder, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        image_folder.load(tmp_path / "missing")
    with pytest.raises(ValueError, match="Class 'n00000000' has no folder"):
        image_folder.list_images(folder, ["n02084071", "n00000000"])
    (folder / "n09999999").mkdir()
    with pytest.raises(ValueError, match=r"Empty class folder\(s\) \['n09999999'\]"):
        image_folder.list_images(folder)
    with pytest.raises(ValueError, match="subset"):
        image_folder.load(folder, ["n02084071"], validation_split=0.2)
    with pytest.raises(ValueError, match="Duplicate class"):
        image_folder.list_images(folder, ["n02084071", "n02084071"])


def test_files_dataset_class_aware_sampling(folder):
    files, labels, _ = image_folder.list_images(folder)
    ds = image_folder.files_dataset(files, labels, image_size=(4, 4), batch_size=None, sampling="class_balanced",
                                    repeat=True, seed=1)
    drawn = [(x.numpy(), int(y)) for x, y in ds.take(900)]
    freq = np.bincount([y for _, y in drawn], minlength=3) / 900
    np.testing.assert_allclose(freq, 1 / 3, atol=0.05)
    for x, y in drawn[:20]:
        np.testing.assert_allclose(x, 50 * (y + 1) / 255, atol=1e-6)  # each image is its class's grey level
    assert len(list(image_folder.files_dataset(files, labels, batch_size=None, sampling="sqrt"))) == len(files)
