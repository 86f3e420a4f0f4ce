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


def test_files_dataset_resumes_at_a_batch(folder):
    """An endless shuffled stream started at `first_batch` is the tail of the stream started at 0 (`--resume`)."""
    files, labels, _ = image_folder.list_images(folder)

    def stream(first, count):
        ds = image_folder.files_dataset(files, labels, image_size=(4, 4), batch_size=2, shuffle=True, seed=3,
                                        repeat=True, first_batch=first)
        return [y.numpy().tolist() for _, y in ds.take(count)]

    whole = stream(0, 8)
    assert stream(3, 5) == whole[3:]
    with pytest.raises(ValueError, match="first_batch"):
        image_folder.files_dataset(files, labels, first_batch=1)


def test_corrupt_or_truncated_images_are_named_or_skipped(tmp_path, capfd):
    pixels = np.random.default_rng(0).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    files = {}
    for name, data in (("good.png", tf.io.encode_png(pixels)), ("good.jpg", tf.io.encode_jpeg(pixels)),
                       ("gif.gif", b"GIF89a" + b"\0" * 20 + b";")):
        files[name] = tmp_path / name
        tf.io.write_file(str(files[name]), data)
    jpeg = tf.io.encode_jpeg(pixels).numpy()
    (tmp_path / "padded.jpg").write_bytes(jpeg + b"\0" * 100)  # bytes after the end marker: still a good JPEG
    (tmp_path / "cut.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "cut.png").write_bytes(tf.io.encode_png(pixels).numpy()[:-30])
    (tmp_path / "text.jpg").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = [str(tmp_path / n) for n in ("good.png", "good.jpg", "padded.jpg")]
    assert len(list(image_folder.files_dataset(good, [0, 1, 2], (8, 8), batch_size=None, shuffle=False))) == 3
    for bad in ("cut.jpg", "cut.png", "text.jpg", "empty.png"):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"Image file.*{bad}.*corrupt or truncated"):
            list(image_folder.files_dataset([good[0], str(tmp_path / bad)], [0, 1], (8, 8), shuffle=False))
    every = good + [str(tmp_path / n) for n in ("cut.jpg", "cut.png", "text.jpg", "empty.png")]
    kept = [int(y) for _, y in image_folder.files_dataset(every, range(7), (8, 8), batch_size=None, shuffle=False,
                                                             on_error="skip")]
    assert kept == [0, 1, 2]
    err = capfd.readouterr().err
    assert all(f'skipping corrupt or truncated image "{tmp_path / n}"' in err for n in ("cut.jpg", "text.jpg"))


def test_bad_labels_and_empty_splits(folder):
    with pytest.raises(ValueError, match="non-negative integer class ids; got -1"):
        image_folder.files_dataset([str(folder / "a.png"), str(folder / "b.png")], [0, -1])
    with pytest.raises(ValueError, match="on_error"):
        image_folder.files_dataset([str(folder / "a.png")], [0], on_error="ignore")
    with pytest.raises(ValueError, match="empty"):
        stratified_split([], 0.5)
    with pytest.raises(ValueError, match="leaves no validation image"):
        image_folder.load(folder, ["n02121620"], validation_split=0.2, subset="validation")
