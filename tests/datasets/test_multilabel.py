"""Fashion-MNIST mosaics (labels from the cells, required labels, external classifier data) and the COCO / NUS-WIDE
label loaders on tiny files."""

import json

import numpy as np
import pytest

from keras_hier.datasets import fashion_mnist
from keras_hier.datasets.multilabel import (
    MOSAIC_EXTERNAL,
    MOSAIC_TARGETS,
    MOSAIC_UNSEEN,
    external_classifier_data,
    load_coco,
    load_nus_wide,
    make_mosaics,
)


@pytest.fixture(scope="module")
def singles():
    # One 28x28 image per Fashion-MNIST class, each filled with its class number + 1.
    images = np.stack([np.full((28, 28), c + 1, np.uint8) for c in range(10)] * 3)
    return images, np.tile(np.arange(10), 3)


def test_mosaic_pixels_cells_and_labels(singles):
    images, labels = singles
    mosaics, multi_hot, cells = make_mosaics(images, labels, 200, empty_probability=0.3, seed=1)
    assert mosaics.shape == (200, 56, 56) and cells.shape == (200, 4)
    corners = [mosaics[:, 0, 0], mosaics[:, 0, 28], mosaics[:, 28, 0], mosaics[:, 28, 28]]
    for c, pixel in enumerate(corners):
        np.testing.assert_array_equal(pixel, cells[:, c] + 1)  # the cell's class, or 0 when empty
    names = fashion_mnist.CLASS_NAMES
    for j, target in enumerate(MOSAIC_TARGETS):
        np.testing.assert_array_equal(multi_hot[:, j], (cells == names.index(target)).any(1))
    assert 0.2 < (cells == -1).mean() < 0.4
    # External classes appear in mosaics but are never labels.
    assert np.isin(cells, [names.index(e) for e in MOSAIC_EXTERNAL]).any()
    again = make_mosaics(images, labels, 200, empty_probability=0.3, seed=1)
    np.testing.assert_array_equal(again[0], mosaics)


def test_required_labels(singles):
    images, labels = singles
    _, multi_hot, _ = make_mosaics(images, labels, 300, require="seen", seed=2)
    seen = [j for j, t in enumerate(MOSAIC_TARGETS) if t not in MOSAIC_UNSEEN]
    assert multi_hot[:, seen].any(1).all()
    _, multi_hot, _ = make_mosaics(images, labels, 300, require="target", empty_probability=0.7, seed=2)
    assert multi_hot.any(1).all()
    with pytest.raises(ValueError, match="require"):
        make_mosaics(images, labels, 3, require="all")
    with pytest.raises(ValueError, match="Unknown class 'Hat'"):
        make_mosaics(images, labels, 3, targets=("Hat",))


def test_external_classifier_data(singles):
    images, labels = singles
    canvases, y = external_classifier_data(images, labels, seed=0)
    assert canvases.shape == (9, 56, 56) and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    names = fashion_mnist.CLASS_NAMES
    for canvas, label in zip(canvases, y):
        values = set(np.unique(canvas).tolist())
        assert values == {0, names.index(MOSAIC_EXTERNAL[label]) + 1}
        assert (canvas > 0).sum() == 28 * 28  # one cell filled


def test_coco_labels(tmp_path):
    data = {
        "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "bicycle"}, {"id": 3, "name": "car"}],
        "images": [{"id": 10, "file_name": "a.jpg"}, {"id": 11, "file_name": "b.jpg"}, {"id": 12, "file_name": "c.jpg"}],
        "annotations": [{"image_id": 10, "category_id": 1}, {"image_id": 10, "category_id": 2},
                        {"image_id": 11, "category_id": 2}, {"image_id": 11, "category_id": 2}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    files, labels = load_coco(path, classes=["person", "bicycle", "car"], unseen=["bicycle"], split="train")
    assert files == ["a.jpg"] and labels.tolist() == [[1, 0, 0]]  # b.jpg has only the unseen bicycle
    files, labels = load_coco(path, classes=["person", "bicycle", "car"], unseen=["bicycle"], split="test")
    assert files == ["a.jpg", "b.jpg"] and labels.tolist() == [[1, 1, 0], [0, 1, 0]]
    with pytest.raises(ValueError, match="not categories"):
        load_coco(path, classes=["person", "zebra"])
    for text in ('{"images": []', '{"images": []}', "[" * 100000):  # cut, without categories, nested too deep
        path.write_text(text)
        with pytest.raises(ValueError, match="is not a COCO instances file"):
            load_coco(path, classes=["person"])


def test_nus_wide_labels(tmp_path):
    (tmp_path / "ImageList").mkdir()
    (tmp_path / "TrainTestLabels").mkdir()
    (tmp_path / "ImageList" / "TestImagelist.txt").write_text("actor\\0001.jpg\nairport\\0002.jpg\nzoo\\0003.jpg\n")
    for concept, values in (("sun", "1\n0\n0\n"), ("fox", "0\n1\n0\n")):
        (tmp_path / "TrainTestLabels" / f"Labels_{concept}_Test.txt").write_text(values)
    files, labels = load_nus_wide(tmp_path, "test", classes=["sun", "fox"], unseen=["fox"])
    assert files == ["actor/0001.jpg", "airport/0002.jpg"] and labels.tolist() == [[1, 0], [0, 1]]
    with pytest.raises(ValueError, match="TrainImagelist.txt not found"):
        load_nus_wide(tmp_path, "train", classes=["sun"])
    with pytest.raises(ValueError, match="no label list for concept 'cat'"):
        load_nus_wide(tmp_path, "test", classes=["cat"])
