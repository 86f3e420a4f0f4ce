"""set_batch_norm_momentum, and HierNet's `batch_norm_momentum`: the moving statistics after a step follow the
momentum set (hand-computed), the backbone is left alone, the value survives a `.keras` round trip."""

import keras
import numpy as np
import pytest

from keras_hier import HierNet, Hierarchy
from keras_hier.backbones import resnet_cifar, set_batch_norm_momentum


def batch_norms(model):
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def test_sets_every_batch_norm_nested_ones_included():
    inner = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(inner(inputs)))
    assert set_batch_norm_momentum(model, 0.9) == 2 and [n.momentum for n in batch_norms(model)] == [0.9, 0.9]
    with pytest.raises(ValueError, match=r"in \[0, 1\).*PyTorch's 0.9"):
        set_batch_norm_momentum(model, 1.0)


def test_hiernet_momentum_drives_the_moving_statistics(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = resnet_cifar(1, 4, input_shape=(8, 8, 1))  # its batch norms: momentum 0.9
    tree = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})
    model = HierNet.from_backbone(backbone, tree, split_points=[2], batch_norm_momentum=0.5)
    assert {n.momentum for n in batch_norms(model)} == {0.5} and {n.momentum for n in batch_norms(backbone)} == {0.9}
    edge = model.node_layer("root", "edge")
    norm = batch_norms(edge)[0]
    x = np.random.default_rng(0).random((8, 8, 8, 1)).astype("float32")
    batch_mean = np.asarray(keras.Model(edge.inputs[0], norm.input)(x)).mean(axis=(0, 1, 2))
    before = np.asarray(norm.moving_mean)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="sparse_categorical_crossentropy")
    model.train_on_batch(x, np.arange(8) % 4)
    np.testing.assert_allclose(np.asarray(norm.moving_mean), 0.5 * before + 0.5 * batch_mean, atol=1e-5)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    assert again.batch_norm_momentum == 0.5 and {n.momentum for n in batch_norms(again)} == {0.5}
