"""ArrayBatches: make_dataset's batches without TensorFlow, passes, shuffling, chunked augmentation."""

import keras
import numpy as np
import pytest

from keras_hier.datasets import pipeline
from keras_hier.datasets.array_batches import ArrayBatches


def collect(ds, count=None):
    items = [ds[i] for i in range(count if count is not None else ds.num_batches)]
    return np.concatenate([x for x, _ in items]), np.concatenate([y for _, y in items])


def test_same_batches_as_make_dataset():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (10, 5, 5, 3)).astype(np.uint8)
    y = np.arange(10) % 4
    for kwargs in ({}, {"normalize": "standardize"}, {"normalize": "standardize", "mean": 0.5, "std": 0.25}):
        ours = ArrayBatches(x, y, batch_size=4, **kwargs)
        theirs = pipeline.make_dataset(x, y, batch_size=4, **kwargs)
        assert ours.num_batches == len(ours) == 3
        for (a, la), (b, lb) in zip([ours[i] for i in range(3)], theirs):
            np.testing.assert_allclose(a, b.numpy(), atol=1e-6)
            np.testing.assert_array_equal(la, lb.numpy())
            assert a.dtype == np.float32 and la.dtype == np.int32
    assert ArrayBatches(x, y, batch_size=4, drop_remainder=True).num_batches == 2
    with pytest.raises(IndexError):
        ours[3]


def test_passes_are_seeded_permutations():
    x = np.arange(12, dtype=np.uint8).reshape(12, 1, 1)
    y = np.arange(12)
    ds = ArrayBatches(x, y, batch_size=5, shuffle=True, seed=3, repeat=True)
    assert ds.num_batches is None
    with pytest.raises(TypeError, match="no length"):
        len(ds)
    first, second = collect(ds, 3)[1], np.concatenate([ds[i][1] for i in range(3, 6)])
    assert sorted(first.tolist()) == sorted(second.tolist()) == y.tolist()  # whole passes, last batch short
    assert first.tolist() != second.tolist()
    np.testing.assert_array_equal(collect(ArrayBatches(x, y, batch_size=5, shuffle=True, seed=3, repeat=True), 3)[1], first)
    assert collect(ArrayBatches(x, y, batch_size=5, shuffle=True, seed=4), 3)[1].tolist() != first.tolist()
    finite = ArrayBatches(x, y, batch_size=5, shuffle=True, seed=3)
    before = collect(finite)[1]
    finite.on_epoch_end()
    assert sorted(collect(finite)[1].tolist()) == y.tolist() and collect(finite)[1].tolist() != before.tolist()


@pytest.mark.parametrize("chunk", [1, 3])
def test_augmentation_deterministic_in_chunks(chunk):
    x = np.zeros((20, 16, 16), np.uint8)  # black images: translated borders show the grey fill
    y = np.arange(20) % 10

    def run():
        return collect(ArrayBatches(x, y, batch_size=4, augment="hiernet", shuffle=True, seed=1, augment_chunk=chunk))

    (a, la), (b, lb) = run(), run()
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert a.shape == (20, 16, 16, 1) and a.min() >= 0 and a.max() <= 0.5 and (a == 0.5).any()
    custom = ArrayBatches(np.full((4, 3, 3), 255, np.uint8), np.zeros(4, int), augment=[keras.layers.Rescaling(0.5)])
    np.testing.assert_allclose(custom[0][0], 0.5)


def test_fit_with_steps_per_epoch():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).integers(0, 256, (24, 4, 4)).astype(np.uint8)
    y = np.arange(24) % 3
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    data = ArrayBatches(x, y, batch_size=8, shuffle=True, repeat=True)
    history = model.fit(data, steps_per_epoch=7, epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert model.evaluate(ArrayBatches(x, y, batch_size=8), verbose=0) > 0


def test_bad_input_and_make_batches():
    with pytest.raises(ValueError, match="Label 10 .*index 1.* range 0..9"):
        ArrayBatches(np.zeros((3, 5, 5)), np.array([0, 10, 1]), num_classes=10)
    with pytest.raises(ValueError, match="no whole batch of 8"):
        ArrayBatches(np.zeros((3, 5, 5)), np.zeros(3, int), batch_size=8, drop_remainder=True)
    # Under the TensorFlow backend make_batches is make_dataset's tf.data pipeline.
    assert type(pipeline.make_batches(np.zeros((3, 5, 5)), np.zeros(3, int))).__module__.startswith("tensorflow")


def test_first_batch_and_augmentation_independent_of_reading_order():
    x = np.zeros((12, 10, 10), np.uint8)
    y = np.arange(12) % 3
    kwargs = dict(batch_size=4, augment="hiernet", shuffle=True, seed=3, repeat=True, augment_chunk=2)
    whole = ArrayBatches(x, y, **kwargs)
    later = ArrayBatches(x, y, first_batch=4, **kwargs)
    for index in (0, 1, 3):
        a, la = whole[4 + index]
        b, lb = later[index]
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(whole[0][0], ArrayBatches(x, y, **kwargs)[0][0])  # after reading further
    with pytest.raises(ValueError, match="first_batch"):
        ArrayBatches(x, y, first_batch=1)
