"""mAP and miAP against scikit-learn's average_precision_score, with ties, skipped rows / columns, and as Keras metrics."""

import keras
import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from keras_hier.metrics import (
    MeanAveragePrecision,
    MeanImageAveragePrecision,
    image_average_precision,
    mean_average_precision,
    mean_image_average_precision,
    multilabel_report,
)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = (rng.random((60, 7)) < 0.3).astype("float32")
    y[:, 6] = 0  # a class with no positive
    y[5] = 0  # an image with no positive
    scores = np.round(rng.random((60, 7)), 1).astype("float32")  # rounding makes many ties
    return y, scores


def sklearn_map(y, s, axis):
    if axis == 1:
        y, s = y.T, s.T
    return [average_precision_score(y[:, c], s[:, c]) for c in range(y.shape[1]) if y[:, c].any()]


def test_hand_computed_ap():
    # Positives ranked 1st and 3rd of 3: AP = (1/1 + 2/3) / 2.
    assert image_average_precision([[1, 0, 1]], [[0.9, 0.8, 0.4]])[0] == pytest.approx(5 / 6)
    # Tied scores count as one threshold: both labels at 0.5, one positive -> precision 1/2.
    assert image_average_precision([[0, 1]], [[0.5, 0.5]])[0] == pytest.approx(0.5)


def test_against_sklearn_with_ties_and_skips(data):
    y, s = data
    value, skipped = mean_average_precision(y, s, return_skipped=True)
    assert value == pytest.approx(np.mean(sklearn_map(y, s, 0))) and skipped == 1
    value, skipped = mean_image_average_precision(y, s, return_skipped=True)
    assert value == pytest.approx(np.mean(sklearn_map(y, s, 1))) and skipped == int((y.sum(1) == 0).sum())
    rows = image_average_precision(y, s)
    assert np.isnan(rows[5]) and np.allclose(rows[~np.isnan(rows)], sklearn_map(y, s, 1))
    unseen = [1, 4]
    assert mean_image_average_precision(y, s, classes=unseen) == pytest.approx(
        np.mean(sklearn_map(y[:, unseen], s[:, unseen], 1)))


def test_report_settings(data):
    y, s = data
    report = multilabel_report(y, s, seen=[0, 2, 3, 5, 6], unseen=[1, 4])
    assert report["unseen"]["map"] == pytest.approx(np.mean(sklearn_map(y[:, [1, 4]], s[:, [1, 4]], 0)))
    assert report["seen"]["skipped_classes"] == 1 and report["unseen"]["skipped_classes"] == 0
    assert report["all"]["miap"] == pytest.approx(mean_image_average_precision(y, s))


def test_keras_metrics_match_numpy(data):
    y, s = data
    miap = MeanImageAveragePrecision()
    for start in range(0, 60, 16):
        miap.update_state(y[start : start + 16], s[start : start + 16])
    assert float(miap.result()) == pytest.approx(mean_image_average_precision(y, s), abs=1e-5)
    # With 10 bins every score (0.0, 0.1, ..., 1.0 rounded) has its own bin but 0.9 and 1.0: ties as numpy.
    map_ = MeanAveragePrecision(7, num_thresholds=1000)
    map_.update_state(y[:30], s[:30])
    map_.update_state(y[30:], s[30:])
    assert float(map_.result()) == pytest.approx(mean_average_precision(y, s), abs=1e-5)
    logits = MeanAveragePrecision(7, classes=[1, 4], from_logits=True)
    logits.update_state(y, np.log(s + 1e-3) - np.log(1 - s + 1e-3))
    assert float(logits.result()) == pytest.approx(mean_average_precision(y, s, classes=[1, 4]), abs=1e-3)
    again = MeanAveragePrecision.from_config(map_.get_config())
    assert again.num_classes == 7 and again.num_thresholds == 1000
    assert MeanImageAveragePrecision.from_config(MeanImageAveragePrecision([1]).get_config()).classes == [1]


def test_in_compiled_evaluate(data):
    y, s = data
    inputs = keras.Input((7,))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss="binary_crossentropy", metrics=[MeanImageAveragePrecision(), MeanAveragePrecision(7)])
    result = model.evaluate(s, y, batch_size=16, verbose=0, return_dict=True)
    assert result["miap"] == pytest.approx(mean_image_average_precision(y, s), abs=1e-5)
    assert result["map"] == pytest.approx(mean_average_precision(y, s), abs=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        mean_average_precision(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="0 / 1"):
        mean_average_precision(np.full((2, 2), 2), np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"in 0..2"):
        mean_average_precision(np.zeros((2, 3)), np.zeros((2, 3)), classes=[3])
    assert np.isnan(mean_average_precision(np.zeros((2, 3)), np.zeros((2, 3))))
