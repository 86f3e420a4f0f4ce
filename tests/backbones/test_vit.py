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


def test_initialisation_as_the_reference_code():
    keras.utils.set_random_seed(0)
    # DINO / iBOT (`vision_transformer.py`): normal(0.02) kernels, class token and positions; the patch projection
    # as PyTorch's Conv2d default, uniform in +-1/sqrt(channels * patch**2) for kernel and bias.
    dino = vit((32, 32, 3), "vit_mini", name="dino").get_layer("vit")
    assert dino.weight_init == "dino"
    attention = dino.blocks[0].attention
    kernels = np.concatenate([np.ravel(attention._query_dense.kernel), np.ravel(dino.blocks[0].mlp_in.kernel)])
    assert abs(kernels.std() - 0.02) < 0.001  # Keras' TruncatedNormal(0.02) would give 0.0176
    assert abs(float(np.std(dino.class_token)) - 0.02) < 0.01 and abs(float(np.std(dino.positions)) - 0.02) < 0.002
    bound = 1 / np.sqrt(3 * 4 * 4)
    patch = np.asarray(dino.patch_embedding.kernel)
    assert np.abs(patch).max() <= bound and np.abs(patch).max() > 0.95 * bound
    assert 0 < np.abs(np.asarray(dino.patch_embedding.bias)).max() <= bound
    # MoCo v3 (`vits.py`): Xavier over each d x d query / key / value matrix, class token std 1e-6, the frozen patch
    # projection Xavier as a (3 * 16) x 128 matrix with a zero bias.
    moco = vit((32, 32, 3), "vit_mini", name="moco", position_embedding="sincos",
               patch_embedding_trainable=False).get_layer("vit")
    assert moco.weight_init == "moco_v3"
    query = np.asarray(moco.blocks[0].attention._query_dense.kernel)
    assert np.abs(query).max() <= np.sqrt(6 / 256) and np.abs(query).max() > 0.95 * np.sqrt(6 / 256)
    patch, bound = np.asarray(moco.patch_embedding.kernel), np.sqrt(6 / (3 * 16 + 128))
    assert np.abs(patch).max() <= bound and np.abs(patch).max() > 0.95 * bound  # 3.4x Keras' glorot bound here
    assert not np.asarray(moco.patch_embedding.bias).any() and float(np.abs(moco.class_token).max()) < 1e-5
    with pytest.raises(ValueError, match="weight_init"):
        small(weight_init="xavier")


def test_bicubic_resize_is_pytorchs():
    # Hand-computed Keys weights (a = -0.75) at t = 0.75 and the clamped edge, and the identity at scale 1.
    from keras_hier.backbones.vit import pytorch_bicubic_matrix

    np.testing.assert_allclose(pytorch_bicubic_matrix(3, 6, 2.0)[0], [1.10546875, -0.10546875, 0.0])
    np.testing.assert_allclose(pytorch_bicubic_matrix(5, 5, 1.0), np.eye(5))

    def direct(values, out, scale):  # PyTorch's upsample_bicubic2d loop for one row, written out
        a, result = -0.75, []
        for i in range(out):
            x = (i + 0.5) / scale - 0.5
            x0, t = int(np.floor(x)), x - np.floor(x)
            w = [((a * d - 5 * a) * d + 8 * a) * d - 4 * a if d > 1 else ((a + 2) * d - (a + 3)) * d * d + 1
                 for d in (t + 1, t, 1 - t, 2 - t)]
            result.append(sum(wk * values[min(max(x0 - 1 + k, 0), len(values) - 1)] for k, wk in enumerate(w)))
        return np.array(result)

    values = np.random.default_rng(3).normal(size=7)
    for out in (3, 4, 12):
        scale = (out + 0.1) / 7  # DINO's and iBOT's scale_factor
        np.testing.assert_allclose(pytorch_bicubic_matrix(7, out, scale) @ values, direct(values, out, scale),
                                   atol=1e-12)
    # In the layer: rows and columns each resized as above (float32).
    layer = small()
    layer.build((None, 8, 8, 1))
    table = np.asarray(layer.positions)[0, 1:].reshape(2, 2, 8)
    rows, columns = pytorch_bicubic_matrix(2, 3, 3.1 / 2), pytorch_bicubic_matrix(2, 4, 4.1 / 2)
    want = np.einsum("ri,ijd,cj->rcd", rows, table, columns).reshape(-1, 8)
    np.testing.assert_allclose(np.asarray(layer._positions(3, 4))[0, 1:], want, atol=1e-6)


def test_teacher_clone_has_no_stochastic_depth():
    from keras_hier.backbones.vit import clone_without_stochastic_depth

    student = vit((8, 8, 1), "vit_test", drop_path_rate=0.1, depth=3)
    teacher = clone_without_stochastic_depth(student)
    assert [b.drop_path for b in teacher.get_layer("vit").blocks] == [0.0, 0.0, 0.0]
    assert student.get_layer("vit").blocks[-1].drop_path == pytest.approx(0.1)
    teacher.set_weights(student.get_weights())
    # In training the teacher is deterministic (no dropped branches), the student is not.
    first, second = (np.asarray(teacher(IMAGES, training=True)) for _ in range(2))
    np.testing.assert_allclose(first, second, atol=1e-6)
