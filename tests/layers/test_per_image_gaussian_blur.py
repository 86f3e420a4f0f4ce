"""PerImageGaussianBlur: the separable filter against a direct 2-D Gaussian by hand, one sigma per image (two equal
images blur differently), the share of images blurred, inference passes through, errors."""

import numpy as np
import pytest

from keras_hier.layers import PerImageGaussianBlur

RNG = np.random.default_rng(0)


def gaussian_2d(image, sigma, radius):
    """A direct 2-D Gaussian filter with mirrored borders (numpy's 'symmetric' padding)."""
    x = np.arange(-radius, radius + 1)
    w = np.exp(-0.5 * (x / sigma) ** 2)
    w /= w.sum()
    padded = np.pad(image, ((radius, radius), (radius, radius)), mode="symmetric")
    h, v = image.shape
    return sum(w[i] * w[j] * padded[i : i + h, j : j + v] for i in range(2 * radius + 1) for j in range(2 * radius + 1))


def test_matches_a_direct_gaussian():
    image = RNG.uniform(size=(10, 12)).astype("float32")
    out = np.asarray(PerImageGaussianBlur(1.0, sigma=(1.5, 1.5))(image[None, ..., None], training=True))[0, ..., 0]
    np.testing.assert_allclose(out, gaussian_2d(image, 1.5, 5), atol=1e-5)


def test_one_sigma_per_image_and_the_share_blurred():
    images = np.repeat(RNG.uniform(size=(1, 12, 12, 1)).astype("float32"), 200, axis=0)
    out = np.asarray(PerImageGaussianBlur(0.5, sigma=(0.1, 2.0), seed=0)(images, training=True))
    changed = np.abs(out - images).reshape(200, -1).max(1) > 1e-4
    assert 0.4 < changed.mean() < 0.6
    strengths = np.abs(out[changed] - images[changed]).reshape(changed.sum(), -1).mean(1)
    assert len(np.unique(strengths.round(6))) > 0.9 * changed.sum()  # a sigma of its own for each image
    np.testing.assert_array_equal(np.asarray(PerImageGaussianBlur(1.0)(images, training=False)), images)
    with pytest.raises(ValueError, match="sigma"):
        PerImageGaussianBlur(sigma=(0.0, 1.0))
    with pytest.raises(ValueError, match="probability"):
        PerImageGaussianBlur(1.5)
