"""view_augmentation: two calls give two different views of the same size, training=False passes images through,
colour layers only for colour images, errors."""

import numpy as np
import pytest

from keras_hier.models.ssl import view_augmentation


@pytest.mark.parametrize("channels", [1, 3])
def test_views_differ_and_inference_is_identity(channels):
    x = np.random.default_rng(0).uniform(size=(4, 16, 16, channels)).astype("float32")
    augment = view_augmentation(channels, seed=0)
    a, b = np.asarray(augment(x, training=True)), np.asarray(augment(x, training=True))
    assert a.shape == x.shape and not np.allclose(a, b)
    np.testing.assert_array_equal(np.asarray(augment(x, training=False)), x)
    names = [type(layer).__name__ for layer in augment.layers]
    assert ("RandomColorJitter" in names) == (channels == 3) and ("RandomContrast" in names) == (channels == 1)
    assert names[:2] == ["RandomZoom", "RandomTranslation"]


def test_switches_and_errors():
    assert [type(layer).__name__ for layer in view_augmentation(1, crop_scale=(1, 1), flip=False, jitter=0).layers] \
        == ["Identity"]
    with pytest.raises(ValueError, match="crop_scale"):
        view_augmentation(1, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="channels"):
        view_augmentation(2)
