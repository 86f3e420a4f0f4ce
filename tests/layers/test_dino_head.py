"""DINOHead: the weight-normalised last layer gives the cosines of the bottleneck with its columns (by hand), its
norm fixed or learned, the bottleneck's width, errors."""

import numpy as np
import pytest

from keras_hier.layers import DINOHead

X = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")


def test_last_layer_is_cosine_with_its_directions():
    head = DINOHead(6, hidden_units=7, bottleneck_units=3)
    out, bottleneck = np.asarray(head(X)), np.asarray(head.bottleneck(X))
    assert bottleneck.shape == (4, 3)
    v = np.asarray(head.last_direction)
    want = (bottleneck / np.linalg.norm(bottleneck, axis=1, keepdims=True)) @ (v / np.linalg.norm(v, axis=0))
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert not head.last_norm.trainable and len(head.trainable_weights) == 7  # 3 Dense x 2 + the directions


def test_learned_norm_scales_the_outputs():
    head = DINOHead(6, hidden_units=7, bottleneck_units=3, norm_last_layer=False)
    before = np.asarray(head(X))
    head.last_norm.assign(np.full(6, 2.0, "float32"))
    assert head.last_norm.trainable
    np.testing.assert_allclose(np.asarray(head(X)), 2 * before, rtol=1e-5)
    with pytest.raises(ValueError, match="positive"):
        DINOHead(0)
