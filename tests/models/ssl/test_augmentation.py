"""view_augmentation: MoCo v2's view recipe (jitter on 80 % of the views, grey conversion, blur on half, flip), two
calls give two different views of the same size, training=False passes images through, colour layers only for
colour images, errors; RandomApply's per-image probability."""

import keras
import numpy as np
import pytest

from keras_hier.layers import RandomApply
from keras_hier.models.ssl import view_augmentation


@pytest.mark.parametrize("channels", [1, 3])
def test_views_differ_and_inference_is_identity(channels):
    x = np.random.default_rng(0).uniform(size=(4, 16, 16, channels)).astype("float32")
    augment = view_augmentation(channels, seed=0)
    a, b = np.asarray(augment(x, training=True)), np.asarray(augment(x, training=True))
    assert a.shape == x.shape and not np.allclose(a, b)
    np.testing.assert_array_equal(np.asarray(augment(x, training=False)), x)
    names = [type(layer).__name__ for layer in augment.layers]
    expected = ["RandomZoom", "RandomTranslation", "RandomApply"] + (["RandomGrayscale"] if channels == 3 else []) \
        + ["PerImageGaussianBlur", "RandomFlip"]
    assert names == expected  # MoCo v2's order: crop, jitter (p 0.8), grey (p 0.2), blur (p 0.5), flip
    jitter = augment.get_layer("colour_jitter")
    assert jitter.probability == 0.8
    inner = [type(layer).__name__ for layer in getattr(jitter.layer, "layers", [jitter.layer])]
    assert inner == (["RandomColorJitter"] if channels == 3 else ["RandomBrightness", "RandomContrast"])
    blur = augment.layers[names.index("PerImageGaussianBlur")]
    assert blur.probability == 0.5 and tuple(blur.sigma) == (0.1, 2.0) and blur.radius == 6  # 13 taps


def test_random_apply_transforms_the_given_share_of_images():
    x = np.ones((2000, 2, 2, 1), "float32")
    invert = RandomApply(keras.layers.Lambda(lambda t: -t), probability=0.8, seed=1)
    out = np.asarray(invert(x, training=True))[:, 0, 0, 0]
    assert set(np.unique(out)) == {-1.0, 1.0} and abs((out < 0).mean() - 0.8) < 0.03
    np.testing.assert_array_equal(np.asarray(invert(x, training=False)), x)
    flip = RandomApply(keras.layers.RandomFlip("horizontal", seed=0), 0.5, seed=0, name="flip")
    again = RandomApply.from_config(flip.get_config())
    assert again.probability == 0.5 and isinstance(again.layer, keras.layers.RandomFlip)
    with pytest.raises(ValueError, match="probability"):
        RandomApply(keras.layers.RandomFlip(), 1.5)


def test_switches_and_errors():
    assert [type(layer).__name__ for layer in
            view_augmentation(1, crop_scale=(1, 1), flip=False, jitter=0, blur=0).layers] == ["Identity"]
    with pytest.raises(ValueError, match="crop_scale"):
        view_augmentation(1, crop_scale=(0.5, 0.2))
    with pytest.raises(ValueError, match="channels"):
        view_augmentation(2)
    with pytest.raises(ValueError, match="blur_sigma"):
        view_augmentation(1, blur_sigma=(0.0, 1.0))
