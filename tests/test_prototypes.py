"""class_prototypes against numpy: means of unit features per class, counts, batches, empty classes, errors."""

import keras
import numpy as np
import pytest

from keras_hier.datasets.pipeline import make_dataset
from keras_hier.prototypes import class_prototypes


def test_prototypes_of_an_encoder_over_batches():
    rng = np.random.default_rng(0)
    x = rng.random((50, 4, 4)).astype("float32")
    y = rng.integers(0, 3, 50)
    inputs = keras.Input((4, 4, 1))
    encoder = keras.Model(inputs, keras.layers.Dense(5)(keras.layers.Flatten()(inputs)))
    protos, counts = class_prototypes(encoder, make_dataset(x, y, batch_size=16, normalize="none"), num_classes=4)
    features = np.asarray(encoder(x[..., None]))
    unit = features / np.linalg.norm(features, axis=1, keepdims=True)
    for c in range(3):
        mean = unit[y == c].mean(0)
        np.testing.assert_allclose(protos[c], mean / np.linalg.norm(mean), atol=1e-5)
    assert counts.tolist() == np.bincount(y, minlength=4).tolist()
    assert not protos[3].any()  # a class without images
    raw, _ = class_prototypes(None, (features, y), normalize=False)
    np.testing.assert_allclose(raw[0], unit[y == 0].mean(0), atol=1e-5)


def test_errors():
    with pytest.raises(ValueError, match="Pass an `encoder`"):
        class_prototypes(None, [(np.zeros((2, 3)), np.zeros(2))])
    with pytest.raises(ValueError, match="outside 0..1"):
        class_prototypes(None, (np.ones((2, 3)), np.array([0, 2])), num_classes=2)
    with pytest.raises(ValueError, match="empty"):
        class_prototypes(lambda x: x, [])
