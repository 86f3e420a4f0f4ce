"""make_dataset: normalisation, augmentation, determinism and input checks."""

import numpy as np
import pytest

from keras_hier.datasets import pipeline


def batches(ds):
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def test_unit_normalisation_and_shapes():
    x = np.stack([np.full((4, 4), v, np.uint8) for v in (0, 51, 255)])
    ds = pipeline.make_dataset(x, np.array([2, 0, 1]), batch_size=2)
    images, labels = batches(ds)
    assert images.shape == (3, 4, 4, 1) and images.dtype == np.float32 and labels.dtype == np.int32
    np.testing.assert_allclose(images[:, 0, 0, 0], [0.0, 0.2, 1.0], atol=1e-7)
    assert labels.tolist() == [2, 0, 1]
    assert [int(b[0].shape[0]) for b in ds] == [2, 1]
    assert [int(b[0].shape[0]) for b in pipeline.make_dataset(x, [2, 0, 1], batch_size=2, drop_remainder=True)] == [2]


def test_standardize():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (64, 5, 5, 3)).astype(np.uint8)
    images, _ = batches(pipeline.make_dataset(x, np.zeros(64, int), normalize="standardize"))
    np.testing.assert_allclose(images.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(images.std(axis=(0, 1, 2)), 1, atol=1e-4)
    images, _ = batches(pipeline.make_dataset(x, np.zeros(64, int), normalize="standardize", mean=0.5, std=0.25))
    np.testing.assert_allclose(images, (x / 255 - 0.5) / 0.25, atol=1e-5)


def test_shuffle_and_augmentation_are_deterministic():
    x = np.zeros((32, 16, 16), np.uint8)  # black images: translated borders show the grey fill
    y = np.arange(32) % 10

    def run(seed):
        return batches(pipeline.make_dataset(x, y, batch_size=8, augment="hiernet", shuffle=True, seed=seed))

    (a, la), (b, lb), (c, lc) = run(1), run(1), run(2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(la, lc)
    assert sorted(la.tolist()) == sorted(y.tolist())
    values = np.unique(a)
    assert set(values.tolist()) <= {0.0, 0.5} or (values.min() >= 0 and values.max() <= 0.5)
    assert (a == 0.5).any() and (a == 0.0).any()


def test_custom_augmentation_layers():
    import keras

    x = np.full((4, 6, 6, 3), 255, np.uint8)
    images, _ = batches(pipeline.make_dataset(x, np.zeros(4, int), augment=[keras.layers.Rescaling(0.5)]))
    np.testing.assert_allclose(images, 0.5)


@pytest.mark.parametrize(
    "x, y, kwargs, message",
    [
        (np.zeros((4, 784)), np.zeros(4, int), {}, r"shape \[N, H, W\]"),
        (np.zeros((4, 5, 5)), np.zeros(3, int), {}, "must have shape"),
        (np.zeros((3, 5, 5)), np.array([0, 10, 1]), {"num_classes": 10}, "Label 10 .*index 1.* range 0..9"),
        (np.zeros((2, 5, 5)), np.array([0, -1]), {}, "Label -1"),
        (np.zeros((2, 5, 5)), np.array([0.0, 1.0]), {}, "integer class ids"),
        (np.zeros((0, 5, 5)), np.zeros(0, int), {}, "empty"),
        (np.zeros((2, 5, 5)), np.zeros(2, int), {"normalize": "zscore"}, "normalize"),
        (np.zeros((2, 5, 5)), np.zeros(2, int), {"augment": "randaugment"}, "augment"),
    ],
)
def test_bad_input(x, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipeline.make_dataset(x, y, **kwargs)


def test_multi_label_rows():
    from keras_hier.datasets.array_batches import ArrayBatches

    x = np.zeros((6, 8, 8), np.uint8)
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]] + np.eye(3)[[1, 2, 0, 1, 2, 0]]
    _, labels = next(iter(pipeline.make_dataset(x, y, batch_size=6)))
    assert labels.dtype.name == "float32" and labels.numpy().tolist() == y.tolist()
    assert ArrayBatches(x, y, batch_size=6)[0][1].dtype == np.float32
    with pytest.raises(ValueError, match="0 / 1"):
        pipeline.make_dataset(x, y * 2, batch_size=2)
    with pytest.raises(ValueError, match="3 columns, not num_classes=4"):
        pipeline.make_dataset(x, y, batch_size=2, num_classes=4)


@pytest.mark.parametrize("sampling", ["sqrt", "class_balanced"])
def test_class_aware_sampling(sampling):
    from keras_hier.datasets.array_batches import ArrayBatches

    y = np.repeat(np.arange(3), [400, 100, 25])
    x = y.astype(np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)  # each image shows its label
    want = {"sqrt": np.sqrt([400, 100, 25]) / np.sqrt([400, 100, 25]).sum(), "class_balanced": np.full(3, 1 / 3)}[sampling]
    np.testing.assert_allclose(pipeline.class_probabilities(y, sampling), want)
    ds = pipeline.make_dataset(x, y, batch_size=525, sampling=sampling, seed=3)
    epochs = [np.concatenate([b[1].numpy() for b in ds]) for _ in range(4)]
    assert all(len(e) == 525 for e in epochs) and not np.array_equal(epochs[0], epochs[1])  # new draws each epoch
    np.testing.assert_allclose(np.bincount(np.concatenate(epochs), minlength=3) / 2100, want, atol=0.03)
    again = pipeline.make_dataset(x, y, batch_size=525, sampling=sampling, seed=3)
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in again]), epochs[0])
    images, labels = next(iter(pipeline.make_dataset(x, y, batch_size=64, sampling=sampling, normalize="none")))
    np.testing.assert_array_equal(images.numpy()[:, 0, 0, 0], labels.numpy())  # images stay with their labels
    batches = ArrayBatches(x, y, batch_size=525, sampling=sampling, seed=3)
    drawn_x, drawn = batches[0]
    np.testing.assert_array_equal(drawn_x[:, 0, 0, 0] * 255, drawn)
    assert abs(np.bincount(drawn, minlength=3)[0] / 525 - want[0]) < 0.06
    with pytest.raises(ValueError, match="Unknown `sampling`"):
        pipeline.make_dataset(x, y, sampling="square")
    with pytest.raises(ValueError, match="multi-label"):
        pipeline.make_dataset(x, np.eye(3)[y], sampling=sampling)


def test_one_scaling_rule_for_every_dtype_as_the_export():
    """Integer images of any dtype in 0..255 are divided by 255, as export_serving divides its uint8 inputs; floats are
    taken as [0, 1]; everything ambiguous or broken is refused when the pipeline is built."""
    from keras_hier.datasets.pipeline import image_scale, make_dataset

    raw = np.random.default_rng(0).integers(0, 256, size=(4, 5, 5, 1))
    want = raw.astype(np.float32) / 255.0
    for dtype in (np.uint8, np.uint16, np.int32, np.int64):
        x, _ = next(iter(make_dataset(raw.astype(dtype), np.arange(4), batch_size=4)))
        np.testing.assert_allclose(np.asarray(x), want, atol=1e-7)
    x, _ = next(iter(make_dataset(want.astype(np.float64), np.arange(4), batch_size=4)))
    np.testing.assert_allclose(np.asarray(x), want, atol=1e-7)
    assert image_scale(raw.astype(np.float64) * 3, normalize="none") == 1.0
    bad = {"divide them by 255": raw.astype(np.float64), "16-bit": raw.astype(np.uint16) * 256,
           "0..255": raw.astype(np.int32) - 1, "NaN or infinite values \\(the first in image 2\\)":
           np.where(np.arange(4)[:, None, None, None] == 2, np.nan, want), "numeric array": raw.astype(str),
           "numeric array.*object": np.empty((4, 5, 5, 1), object), "rescale them": want - 0.5}
    for message, images in bad.items():
        with pytest.raises(ValueError, match=message):
            make_dataset(images, np.arange(4), batch_size=4)
    with pytest.raises(ValueError, match=r"`mean` must hold 1 value\(s\) \(one per channel, or one for all\); got 3"):
        make_dataset(raw.astype(np.uint8), np.arange(4), normalize="standardize", mean=[0.5, 0.5, 0.5], std=[1.0])


@pytest.mark.parametrize("sampling", ["instance", "sqrt"])
def test_an_endless_stream_is_a_function_of_its_position(sampling):
    """Batch b of a repeated stream is the same whether the stream started at 0 or at `first_batch=b` (what a
    resumed run relies on), with shuffling, class-aware draws and augmentation; passes differ."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 8, 8)).astype(np.uint8)
    y = np.arange(10) % 3
    kwargs = dict(batch_size=4, augment="hiernet", shuffle=True, seed=5, repeat=True, sampling=sampling)
    whole = [(a.numpy(), b.numpy()) for a, b in pipeline.make_dataset(x, y, **kwargs).take(8)]
    for first in (1, 3, 5):  # 5: across a pass boundary (10 images, batches of 4)
        later = [(a.numpy(), b.numpy()) for a, b in pipeline.make_dataset(x, y, first_batch=first, **kwargs).take(3)]
        for (a, la), (b, lb) in zip(whole[first:first + 3], later):
            np.testing.assert_array_equal(la, lb)
            np.testing.assert_allclose(a, b)
    if sampling == "instance":  # every image once per pass, another order in the next pass
        labels = np.concatenate([b for _, b in whole])
        assert sorted(labels[:10].tolist()) == sorted(y.tolist())
        assert not np.array_equal(labels[:10], labels[10:20])
    with pytest.raises(ValueError, match="first_batch"):
        pipeline.make_dataset(x, y, first_batch=2)


def test_augmentation_does_not_depend_on_what_was_read_before():
    """Reading part of a stream (as a prefetching `fit` does) leaves the next reader's augmentation unchanged."""
    x = np.zeros((16, 12, 12), np.uint8)  # black: translations show the grey fill
    y = np.arange(16) % 4
    ds = pipeline.make_dataset(x, y, batch_size=4, augment="hiernet", shuffle=True, seed=2, repeat=True)
    first = [a.numpy() for a, _ in ds.take(3)]
    for _ in ds.take(7):  # an earlier reader that went further
        pass
    again = [a.numpy() for a, _ in ds.take(3)]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[1])


def test_the_length_is_known():
    """Keras' progress bar and `fit` see how many batches an epoch has; an endless stream says it is endless."""
    import tensorflow as tf

    x, y = np.zeros((10, 4, 4), np.uint8), np.arange(10) % 2
    assert int(pipeline.make_dataset(x, y, batch_size=4, shuffle=True).cardinality()) == 3
    assert int(pipeline.make_dataset(x, y, batch_size=4, sampling="sqrt").cardinality()) == 3
    endless = pipeline.make_dataset(x, y, batch_size=4, shuffle=True, repeat=True, first_batch=7)
    assert int(endless.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
