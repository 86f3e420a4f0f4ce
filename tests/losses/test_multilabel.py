"""MaskedBinaryCrossentropy and PairwiseRankingLoss against numpy; sampled negatives; float32; config round trip."""

import keras
import numpy as np
import pytest

from keras_hier.losses import MaskedBinaryCrossentropy, PairwiseRankingLoss


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    y = (rng.random((6, 5)) < 0.4).astype("float32")
    y[0] = 0  # no positive
    return y, rng.normal(size=(6, 5)).astype("float32") * 2


def bce(y, z):
    return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))


def test_masked_bce_counts_only_the_columns(batch):
    y, z = batch
    loss = MaskedBinaryCrossentropy(columns=[0, 2, 3])
    assert float(loss(y, z)) == pytest.approx(bce(y, z)[:, [0, 2, 3]].mean(), rel=1e-5)
    y_other = y.copy()
    y_other[:, [1, 4]] = 1 - y_other[:, [1, 4]]  # labels of other columns change nothing
    assert float(loss(y_other, z)) == pytest.approx(float(loss(y, z)), rel=1e-6)
    assert float(MaskedBinaryCrossentropy()(y, z)) == pytest.approx(bce(y, z).mean(), rel=1e-5)
    again = MaskedBinaryCrossentropy.from_config(loss.get_config())
    assert again.columns == [0, 2, 3] and again.from_logits


def ranking(y, z):
    out = []
    for row_y, row_z in zip(y, z):
        pairs = [np.log1p(np.exp(row_z[i] - row_z[j])) for j in np.flatnonzero(row_y) for i in np.flatnonzero(1 - row_y)]
        out.append(np.mean(pairs) if pairs else 0.0)
    return float(np.mean(out))


def test_ranking_loss_all_negatives_and_sampled(batch):
    y, z = batch
    assert float(PairwiseRankingLoss(num_negatives=None)(y, z)) == pytest.approx(ranking(y, z), rel=1e-5)
    assert float(PairwiseRankingLoss(columns=[0, 1, 2], num_negatives=None)(y, z)) == pytest.approx(
        ranking(y[:, :3], z[:, :3]), rel=1e-5)
    # One negative per positive: the loss of each image is the mean of some of its own (positive, negative) pairs.
    one = PairwiseRankingLoss(num_negatives=1, seed=0)
    per_image = np.asarray(one.call(y, z))
    for row_y, row_z, value in zip(y, z, per_image):
        pairs = [np.log1p(np.exp(row_z[i] - row_z[j])) for j in np.flatnonzero(row_y) for i in np.flatnonzero(1 - row_y)]
        if pairs:
            assert min(pairs) - 1e-5 <= value <= max(pairs) + 1e-5
        else:
            assert value == 0.0
    assert PairwiseRankingLoss.from_config(one.get_config()).num_negatives == 1
    with pytest.raises(ValueError, match="num_negatives"):
        PairwiseRankingLoss(num_negatives=0)


def test_float32_from_half_inputs(batch):
    y, z = batch
    for loss in (MaskedBinaryCrossentropy(), PairwiseRankingLoss()):
        value = loss(y, keras.ops.cast(z, "float16"))
        assert value.dtype == "float32" and np.isfinite(float(value))


@pytest.mark.parametrize("make", [lambda c: MaskedBinaryCrossentropy(c), lambda c: PairwiseRankingLoss(c, seed=0)])
def test_widths_columns_and_label_values_are_checked(make):
    import tensorflow as tf

    y, p = np.array([[1, 0, 1]], "float32"), np.zeros((1, 3), "float32")
    with pytest.raises(ValueError, match=r"labels \(as wide as the predictions\).*\[batch, 3\]"):
        make(None)(y[:, :2], p)
    with pytest.raises(ValueError, match="column 5 is outside the 3 predictions"):
        make([0, 5])(y, p)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must lie in 0.0..1.0"):
        make(None)(np.array([[2, 0, 1]], "float32"), p)
