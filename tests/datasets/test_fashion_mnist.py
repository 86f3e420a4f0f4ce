"""Fashion-MNIST: the offline reader, its fall-backs, and the WordNet hierarchy of its classes."""

import gzip

import numpy as np
import pytest

from keras_hier.datasets import fashion_mnist
from keras_hier.knowledge import wordnet

needs_data = pytest.mark.skipif(
    fashion_mnist.find_data_dir() is None,
    reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)",
)


@needs_data
def test_load_data_like_keras():
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data()
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    # The first training image is an ankle boot, the first test image too (the data set's known order).
    assert fashion_mnist.CLASS_NAMES[y_train[0]] == "Ankle boot" and y_test[0] == 9
    assert 0.28 < x_train.mean() / 255 < 0.29


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_and_data_dir(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    labels = np.array([1, 0])
    for key, name in fashion_mnist.FILES.items():
        _write_idx(tmp_path / name, images if key.startswith("x") else labels)
    (x, y), (xt, yt) = fashion_mnist.load_data(tmp_path)
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(yt, labels)
    with gzip.open(tmp_path / "broken.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="truncated"):
        fashion_mnist._read_idx(tmp_path / "broken.gz")
    with pytest.raises(ValueError, match="does not hold the Fashion-MNIST files"):
        fashion_mnist.load_data(tmp_path / "nowhere")


def test_clear_error_when_nothing_is_found(monkeypatch, tmp_path):
    import keras

    monkeypatch.setattr(fashion_mnist, "find_data_dir", lambda: None)

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="apt-get install dataset-fashion-mnist"):
        fashion_mnist.load_data()


def test_wordnet_ids_and_hierarchy():
    assert [wordnet.wnid(s) for s in wordnet.as_synsets(fashion_mnist.SYNSETS)] == list(fashion_mnist.WNIDS)
    h = fashion_mnist.hierarchy()
    assert h.is_tree and h.leaves == fashion_mnist.WNIDS
    assert [h.name(n) for n in h.leaves] == list(fashion_mnist.CLASS_NAMES)
    parent = {name: h.name(h.parents(w)[0]) for name, w in zip(fashion_mnist.CLASS_NAMES, h.leaves)}
    assert parent["T-shirt/top"] == parent["Shirt"] == "shirt"
    assert parent["Sandal"] == parent["Sneaker"] == "shoe"
    assert h.name(h.root) == "artifact"
    footwear = h.labels_at_level(2)
    assert footwear[5] == footwear[7] == footwear[9] != footwear[0]
    assert not fashion_mnist.hierarchy(tree=False).is_tree
