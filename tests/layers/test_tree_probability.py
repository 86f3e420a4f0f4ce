"""TreeProbability: products along routes of unequal depth, float32 under mixed precision, saving."""

import keras
import numpy as np
import pytest

from keras_hier.layers import TreeProbability

# root: {g, c}; g: {a, h}; h: {b, d}. Classes in label order: d, a, c, b.
PATHS = [[(0, 0), (1, 1), (2, 1)], [(0, 0), (1, 0)], [(0, 1)], [(0, 0), (1, 1), (2, 0)]]


def test_hand_computed_products():
    root = np.array([[0.6, 0.4], [0.1, 0.9]], "float32")
    g = np.array([[0.5, 0.5], [0.2, 0.8]], "float32")
    h = np.array([[0.3, 0.7], [1.0, 0.0]], "float32")
    out = keras.ops.convert_to_numpy(TreeProbability(PATHS)([root, g, h]))
    expected = [[0.6 * 0.5 * 0.7, 0.6 * 0.5, 0.4, 0.6 * 0.5 * 0.3], [0.1 * 0.8 * 0.0, 0.1 * 0.2, 0.9, 0.1 * 0.8 * 1.0]]
    np.testing.assert_allclose(out, expected, atol=1e-7)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-6)


def test_float32_under_mixed_precision_and_round_trip(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = [keras.Input((2,)), keras.Input((2,)), keras.Input((2,))]
        model = keras.Model(inputs, TreeProbability(PATHS)(inputs))
        assert model.output.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    data = [np.full((1, 2), 0.5, "float16")] * 3
    assert model(data).dtype == "float32"
    path = tmp_path / "tree.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again(data), model(data))
    assert again.layers[-1].paths == PATHS


def test_bad_paths():
    with pytest.raises(ValueError, match="one non-empty route"):
        TreeProbability([[]])
    layer = TreeProbability([[(0, 2)]])
    with pytest.raises(ValueError, match="child 2 of node 0, which has 2 children"):
        layer([np.ones((1, 2), "float32")])
