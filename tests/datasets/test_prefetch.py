"""Every tf.data pipeline keras_hier builds runs without tf.data's autotuning model (see
keras_hier/datasets/prefetch.py: in TensorFlow 2.21 it makes freeing an idle iterator block for up to a minute)."""

import numpy as np
import pytest

from keras_hier.datasets.image_folder import files_dataset
from keras_hier.datasets.pipeline import make_dataset
from keras_hier.datasets.prefetch import array_batches_dataset, prefetched


def _autotune(ds):
    return ds.options().autotune.enabled


def test_prefetched_keeps_elements_and_turns_the_tuning_model_off():
    import tensorflow as tf

    ds = prefetched(tf.data.Dataset.range(5).batch(2))
    assert [list(b.numpy()) for b in ds] == [[0, 1], [2, 3], [4]]
    assert _autotune(ds) is False
    assert _autotune(ds.map(lambda x: x + 1)) is False  # what is built on it keeps the option


def test_array_batches_dataset_reads_rows_in_order():
    x = np.arange(14, dtype=np.float32).reshape(7, 2)
    batches = [b.numpy() for b in array_batches_dataset(x, 3)]
    np.testing.assert_array_equal(np.concatenate(batches), x)
    assert [len(b) for b in batches] == [3, 3, 1]


@pytest.mark.parametrize("augment", [None, "hiernet"])
def test_make_dataset_has_no_tuning_model(augment):
    ds = make_dataset(np.zeros((6, 8, 8), np.uint8), np.arange(6), batch_size=4, augment=augment, shuffle=True)
    assert _autotune(ds) is False


def test_files_dataset_has_no_tuning_model(tmp_path):
    import tensorflow as tf

    path = tmp_path / "a.png"
    tf.io.write_file(str(path), tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)))
    ds = files_dataset([str(path)], np.array([0]), (4, 4), batch_size=1)
    assert _autotune(ds) is False
    assert next(iter(ds))[0].shape == (1, 4, 4, 3)
