"""The ViT encoder: token shapes, MoCo v3's sine-cosine table by hand, position embeddings resized for other image
sizes (and untouched at the built size), the mask token replacing masked patches, presets and errors."""

import keras
import numpy as np
import pytest

from keras_hier.backbones import VisionTransformer, vit
from keras_hier.backbones.vit import find_vision_transformer, sincos_position_embedding

IMAGES = np.random.default_rng(0).uniform(size=(3, 8, 8, 1)).astype("float32")


def small(**kwargs):
    keras.utils.set_random_seed(0)
    return VisionTransformer(8, patch_size=4, hidden_dim=8, depth=1, num_heads=2, **kwargs)


def test_sincos_table_by_hand():
    # One row of two patches, width 4: omega = [1]; columns (sin x, cos x), rows (sin y, cos y).
    np.testing.assert_allclose(sincos_position_embedding((1, 2), 4),
                               [[0, 1, 0, 1], [np.sin(1), np.cos(1), 0, 1]], atol=1e-7)
    layer = small(position_embedding="sincos")
    layer.build((None, 8, 8, 1))
    assert not layer.positions.trainable
    np.testing.assert_allclose(np.asarray(layer.positions)[0, 1:], sincos_position_embedding((2, 2), 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_position_embedding((2, 2), 6)


def test_tokens_and_other_sizes():
    layer = small()
    tokens = np.asarray(layer(IMAGES, return_tokens=True))
    assert tokens.shape == (3, 5, 8)
    np.testing.assert_allclose(np.asarray(layer(IMAGES)), tokens[:, 0], atol=1e-6)  # the class token
    np.testing.assert_array_equal(np.asarray(layer._positions(2, 2)), np.asarray(layer.positions))
    wide = np.asarray(layer._positions(3, 4))
    assert wide.shape == (1, 13, 8)
    np.testing.assert_array_equal(wide[:, 0], np.asarray(layer.positions)[:, 0])  # the class token's stays
    assert layer(np.zeros((2, 12, 16, 1), "float32"), return_tokens=True).shape == (2, 13, 8)


def test_mask_token_replaces_masked_patches():
    layer = small(mask_token=True)
    everything = np.ones((3, 2, 2), bool)
    masked = np.asarray(layer(IMAGES, patch_mask=everything, return_tokens=True))
    other = np.asarray(layer(IMAGES[::-1] * 3.0, patch_mask=everything, return_tokens=True))
    np.testing.assert_allclose(masked, other, atol=1e-6)  # every patch is the mask token: the images do not matter
    none = np.asarray(layer(IMAGES, patch_mask=np.zeros((3, 2, 2), bool), return_tokens=True))
    np.testing.assert_allclose(none, np.asarray(layer(IMAGES, return_tokens=True)), atol=1e-6)
    with pytest.raises(ValueError, match="mask_token=True"):
        small()(IMAGES, patch_mask=everything)


def test_encoder_presets_and_errors():
    encoder = vit((8, 8, 1), "vit_test")
    assert encoder.output.shape == (None, 16) and encoder.name == "vit_test"
    pre, layer = find_vision_transformer(encoder)
    assert pre is None and layer.grid == (2, 2)
    with pytest.raises(ValueError, match="Unknown ViT preset"):
        vit((8, 8, 1), "vit_huge")
    with pytest.raises(ValueError, match="divisible"):
        VisionTransformer(8, patch_size=4, hidden_dim=6, num_heads=4, depth=1).build((None, 8, 8, 1))
    with pytest.raises(ValueError, match="one VisionTransformer"):
        find_vision_transformer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]))
