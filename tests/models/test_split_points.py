"""Where HierNet can cut a backbone (`HierNet.split_candidates`), on a hand-built graph whose valid points are known,
and HierNet built from the backbone families whose block outputs are not plain layers: ConvNeXt (`+` operations),
DenseNet (concatenations), a keras-hub ViT (tokens, a `x[:, 0]` head): one step, routing = the argmax path, reload."""

import warnings

import keras
import numpy as np
import pytest

from keras_hier import HierNet, Hierarchy
from keras_hier.models.split_points import find_operation

TREE = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"]}})


def hand_built():
    """input 8x8 -> a -> [b] -> a + b -> c (4x4) -> d1 | d2 -> concat -> e (2x2, the feature map) -> head.

    Valid: a (b reads it, but so does the `+` right after b: nothing crosses a), the `+`, c, the concatenation.
    Not valid: b (a skips over it), d1 and d2 (each the other's sibling)."""
    inputs = keras.Input((8, 8, 3))
    a = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    b = keras.layers.Conv2D(4, 3, padding="same", name="b")(a)
    added = a + b
    c = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="c")(added)
    d = [keras.layers.Conv2D(2, 1, name=f"d{i}")(c) for i in (1, 2)]
    cat = keras.layers.Concatenate(name="cat")(d)
    e = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="e")(cat)
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(
        keras.layers.GlobalAveragePooling2D()(e))
    return keras.Model(inputs, outputs, name="hand_built"), added._keras_history[0].name


def test_valid_split_points_of_a_hand_built_graph():
    backbone, add = hand_built()
    assert add.startswith("add") and isinstance(find_operation(backbone, add), keras.Operation)
    assert HierNet.split_candidates(backbone, every=True) == ["a", add, "c", "cat"]
    # Stage outputs: the last valid point at each resolution before the feature map's (8x8: the `+`; 4x4: cat).
    assert HierNet.split_candidates(backbone) == [add, "cat"]
    assert HierNet.split_candidates(backbone, features="cat", every=True) == ["a", add, "c"]
    with pytest.raises(ValueError, match="Split point 'b': a skip connection or a concatenation crosses it.*Valid "
                                         "split points of "
                                         f"'hand_built' \\(HierNet.split_candidates\\): '{add}', 'cat'"):
        HierNet.from_backbone(backbone, TREE, split_points=["b"])
    with pytest.raises(ValueError, match="Feature layer 'nope'"):
        HierNet.split_candidates(backbone, features="nope")


def test_cut_at_an_operation_that_is_not_a_layer(tmp_path):
    keras.utils.set_random_seed(0)
    backbone, add = hand_built()
    model = HierNet.from_backbone(backbone, TREE, split_points=[add])
    x = np.random.default_rng(0).random((4, 8, 8, 3)).astype("float32")
    # The trunk ends at the `+`, the nodes' edges run c..e: each route is the backbone's computation.
    trunk = keras.Model(backbone.inputs[0], find_operation(backbone, add).output)(x)
    np.testing.assert_allclose(model.node_layer("root", "edge")(x), trunk, atol=1e-6)
    features = keras.Model(backbone.inputs[0], backbone.get_layer("e").output)(x)
    np.testing.assert_allclose(model.node_layer("g2", "edge")(trunk), features, atol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0),
                               model.predict(x, verbose=0), atol=1e-6)


def tiny_convnext():
    from keras.src.applications.convnext import ConvNeXt

    return ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[4, 8, 8, 8], input_shape=(32, 32, 3), weights=None,
                    classes=4, name="convnext_test")


def tiny_densenet():
    from keras.src.applications.densenet import DenseNet

    return DenseNet([1, 1, 1, 1], input_shape=(32, 32, 3), weights=None, classes=4)


def tiny_vit():
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=1,
                                            hidden_dim=8, mlp_dim=8)
    return keras_hub.models.ViTImageClassifier(backbone, num_classes=4)


# name -> (factory, its stage outputs, whether the classifier rows transfer)
FAMILIES = {
    "ConvNeXt": (tiny_convnext, None, False),  # `+` operations named add_<n>; LayerNorm between pooling and Dense
    "DenseNet": (tiny_densenet, ["conv1_relu", "pool2_conv", "pool3_conv", "pool4_conv"], True),
    # One encoder layer: the embedding is the only cut; the head reads the class token (x[:, 0]), not the mean.
    "keras_hub_ViT": (tiny_vit, ["vit_patching_and_embedding"], False),
}


@pytest.mark.parametrize("name", list(FAMILIES))
def test_backbone_families_step_route_and_reload(name, tmp_path):
    make, stages, transfers = FAMILIES[name]
    keras.utils.set_random_seed(0)
    backbone = make()
    candidates = HierNet.split_candidates(backbone)
    if stages is None:
        assert len(candidates) == 3 and all(c.startswith("add") for c in candidates), candidates
    else:
        assert candidates == stages
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = HierNet.from_backbone(backbone, TREE, split_points=[candidates[-1]])
    assert any("start random" in str(w.message) for w in caught) != transfers
    size = backbone.inputs[0].shape[1]
    x = np.random.default_rng(0).random((8, size, size, 3)).astype("float32") * 255
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    assert np.isfinite(model.train_on_batch(x, np.arange(8) % 4))
    # Routing reaches the class at the end of the argmax path (the most probable child at every node).
    nodes = {k: np.asarray(v) for k, v in model.node_model()(x).items()}  # eager calls: nothing to trace
    groups = nodes["root"].argmax(1)
    expected = np.where(groups == 0, nodes["g1"].argmax(1), 2 + nodes["g2"].argmax(1))
    np.testing.assert_array_equal(np.asarray(model.routing_model()(x)).argmax(1), expected)
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings(record=True) as caught:  # a keras-hub task compiles itself: no warning at load
        warnings.simplefilter("always")
        again = keras.saving.load_model(tmp_path / "m.keras")
    assert not [w for w in caught if "compile()" in str(w.message)], [str(w.message) for w in caught]
    np.testing.assert_allclose(again(x), model(x), atol=1e-5)


def test_a_layer_that_cannot_give_its_config_is_named():
    class Broken(keras.layers.Layer):  # as keras-hub's DeiTEncoder: get_config reads an attribute never set
        def call(self, x):
            return x

        def get_config(self):
            return {**super().get_config(), "key_dim": self.key_dim}

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)
    x = Broken(name="broken")(keras.layers.Conv2D(4, 3, strides=2, padding="same", name="b")(x))
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    with pytest.raises(ValueError, match="the layer 'broken' .*Broken\\) cannot give its config: AttributeError"):
        HierNet.from_backbone(keras.Model(inputs, outputs), TREE, split_points=["a"])
