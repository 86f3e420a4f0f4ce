"""BalancedSoftmax: cross-entropy of logits + log prior, by hand; float32; config; bad counts."""

import keras
import numpy as np
import pytest

from keras_hier.losses import BalancedSoftmax


def test_equals_cross_entropy_of_shifted_logits():
    counts = np.array([60, 30, 10])
    logits = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    labels = np.array([0, 1, 2, 2, 1])
    shifted = logits + np.log(counts / counts.sum())
    want = np.mean(np.log(np.exp(shifted).sum(1)) - shifted[np.arange(5), labels])
    loss = BalancedSoftmax(counts)
    assert float(loss(labels, logits)) == pytest.approx(want, rel=1e-5)
    assert float(loss(labels[:, None], keras.ops.cast(logits, "float16"))) == pytest.approx(want, rel=1e-2)
    assert loss(labels, keras.ops.cast(logits, "float16")).dtype == "float32"
    assert BalancedSoftmax.from_config(loss.get_config()).class_counts == [60, 30, 10]


def test_rare_classes_gain_from_equal_logits():
    # With equal logits the loss of a rare-class label is larger than the plain cross-entropy (log 3).
    loss = BalancedSoftmax([60, 30, 10])
    assert float(loss([2], [[0.0, 0.0, 0.0]])) == pytest.approx(-np.log(10 / 100), rel=1e-5)
    with pytest.raises(ValueError, match="positive"):
        BalancedSoftmax([5, 0, 3])
