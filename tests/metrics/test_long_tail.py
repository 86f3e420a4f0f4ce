"""Shot-group accuracies against numpy per-class means, and the Keras metric in a compiled evaluate."""

import keras
import numpy as np
import pytest

from keras_hier.metrics import ShotGroupAccuracy, shot_accuracies


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    counts = np.array([400, 150, 101, 100, 60, 20, 19, 5])  # many: 0-2, medium: 3-5, few: 6-7
    y = rng.integers(0, 8, 300)
    scores = rng.normal(size=(300, 8)) + 1.5 * np.eye(8)[y]
    return counts, y, scores


def numpy_group(y, pred, classes):
    return np.mean([np.mean(pred[y == c] == c) for c in classes if (y == c).any()])


def test_against_numpy(data):
    counts, y, scores = data
    pred = scores.argmax(1)
    r = shot_accuracies(y, scores, counts)
    assert r["many"] == pytest.approx(numpy_group(y, pred, [0, 1, 2]))
    assert r["medium"] == pytest.approx(numpy_group(y, pred, [3, 4, 5]))
    assert r["few"] == pytest.approx(numpy_group(y, pred, [6, 7]))
    assert r["total"] == pytest.approx(np.mean(pred == y)) and r["classes"] == {"many": 3, "medium": 3, "few": 2}
    assert np.isnan(shot_accuracies([0, 1], [0, 1], [500, 300])["few"])  # no few-shot class
    with pytest.raises(ValueError, match="0..1"):
        shot_accuracies([2], [0], [500, 300])


def test_keras_metric_matches_numpy(data):
    counts, y, scores = data
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[ShotGroupAccuracy(counts, g) for g in ("many", "medium", "few", "total")])
    result = model.evaluate(scores.astype("float32"), y, batch_size=64, verbose=0, return_dict=True)
    want = shot_accuracies(y, scores, counts)
    for g in ("many", "medium", "few", "total"):
        assert result[f"{g}_shot_accuracy"] == pytest.approx(want[g], abs=1e-6)
    again = ShotGroupAccuracy.from_config(ShotGroupAccuracy(counts, "few").get_config())
    assert again.group == "few" and again.train_counts == counts.tolist()
    with pytest.raises(ValueError, match="Unknown group"):
        ShotGroupAccuracy(counts, "rare")
