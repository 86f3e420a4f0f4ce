"""Every public keras_hier layer passes Keras' own layer harness, `keras.src.testing.TestCase.run_layer_test`:
build from a shape, symbolic call, config round trip, a training step, and the mixed-precision contract (outputs in
the layer's compute dtype, matching its symbolic output spec; float32 variables)."""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

RNG = np.random.default_rng(0)


def class_graph():
    from keras_hier.knowledge import ClassGraph

    names = ["cat", "dog", "car", "wolf", "truck"]
    kinds = ["seen", "unseen", "seen", "external", "external"]
    return ClassGraph(names, [f"{n}.n.01" for n in names], kinds, RNG.normal(size=(5, 4)).astype("float32"))


def clip_encoder():
    import keras_hub

    return keras_hub.models.CLIPVisionEncoder(8, 16, 1, 2, 32, image_shape=(16, 16, 3))


def bert():
    import keras_hub

    return keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                         intermediate_dim=16, max_sequence_length=6)


def layer(module, name):
    import importlib

    return getattr(importlib.import_module(module), name)


# name: (module, init kwargs (a function, so each case builds its own objects), run_layer_test arguments)
CASES = {
    "CosineClassifier": ("keras_hier.layers", lambda: {"num_classes": 3, "learn_scale": True},
                         {"input_shape": (2, 4), "expected_output_shape": (2, 3), "expected_num_trainable_weights": 2}),
    "ProjectionHead": ("keras_hier.layers", lambda: {"units": 3, "hidden_units": 5},
                       {"input_shape": (2, 4), "expected_output_shape": (2, 3)}),
    "DINOHead": ("keras_hier.layers", lambda: {"units": 5, "hidden_units": 6, "bottleneck_units": 3},
                 {"input_shape": (2, 4), "expected_output_shape": (2, 5), "expected_num_trainable_weights": 7}),
    "ViTBlock": ("keras_hier.backbones.vit", lambda: {"hidden_dim": 4, "num_heads": 2, "mlp_dim": 6, "drop_path": 0.1,
                                                      "seed": 0},
                 {"input_shape": (2, 3, 4), "expected_output_shape": (2, 3, 4), "expected_num_seed_generators": 1}),
    "VisionTransformer": ("keras_hier.backbones.vit",
                          lambda: {"image_size": 8, "patch_size": 4, "hidden_dim": 4, "depth": 1, "num_heads": 2},
                          {"input_shape": (2, 8, 8, 1), "expected_output_shape": (2, 4)}),
    "PerImageGaussianBlur": ("keras_hier.layers", lambda: {"probability": 0.5, "seed": 0},
                             {"input_shape": (2, 8, 8, 1), "expected_output_shape": (2, 8, 8, 1),
                              "expected_num_seed_generators": 1,
                              "run_training_check": False}),  # no weights to train
    "TreeProbability": ("keras_hier.layers", lambda: {"paths": [[(0, 0), (1, 1)], [(0, 0), (1, 0)], [(0, 1)]]},
                        {"input_data": [np.full((2, 2), 0.5, "float32"), np.full((2, 2), 0.5, "float32")],
                         "expected_output_shape": (2, 3), "expected_num_trainable_weights": 0,
                         "run_training_check": False}),  # no weights to train
    "RiskMinimisingDecision": ("keras_hier.layers",
                               lambda: {"cost": np.array([[0, 1, 2], [1, 0, 2], [2, 2, 0]], "float32")},
                               {"input_shape": (2, 3), "expected_output_shape": (2, 3),
                                "expected_num_trainable_weights": 0, "expected_num_non_trainable_weights": 1,
                                "run_training_check": False}),  # no weights to train
    "PosVAE": ("keras_hier.layers",
               lambda: {"latent_dim": 4, "semantic_vectors": RNG.normal(size=(3, 5)).astype("float32"),
                        "hidden_units": 6, "seed": 0},
               {"input_data": np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32"),
                "expected_output_shape": (2, 3, 4), "expected_num_losses": 1, "expected_num_seed_generators": 1}),
    "RandomApply": ("keras_hier.layers",
                    lambda: {"layer": keras.layers.RandomContrast(0.5, seed=0), "probability": 0.5, "seed": 0},
                    {"input_shape": (2, 8, 8, 1), "expected_output_shape": (2, 8, 8, 1),
                     "run_training_check": False}),  # no weights to train
    "RelationalGraphConv": ("keras_hier.layers", lambda: {"units": 3, "graph": class_graph(), "edge_hidden": 4},
                            {"input_shape": (2, 5, 6), "expected_output_shape": (2, 5, 3)}),
    "GatedGraphPropagation": ("keras_hier.layers",
                              lambda: {"graph": class_graph(), "steps": 2, "relation_dim": 3},
                              {"input_shape": (2, 5, 4), "expected_output_shape": (2, 5, 4)}),
    "CLIPEmbedding": ("keras_hier.layers", lambda: {"encoder": clip_encoder(), "projection_dim": 4},
                      {"input_shape": (2, 16, 16, 3), "expected_output_shape": (2, 4)}),
    "MiniLMEmbedding": ("keras_hier.layers", lambda: {"backbone": bert()},
                        {"input_data": np.array([[2, 5, 9, 0, 0, 0], [3, 4, 0, 0, 0, 0]], "int32"),
                         "expected_output_shape": (2, 8)}),
    "CompositionalTransferHead": ("keras_hier.models",
                                  lambda: {"weights": RNG.normal(size=(2, 3, 4)).astype("float32"), "scale": 10.0},
                                  {"input_shape": (2, 4), "expected_output_shape": (2, 3)}),
    "ProbabilityMatching": ("keras_hier.models.multilabel_zsl", lambda: {"num_targets": 3, "weight": 0.5},
                            {"input_shape": {"node_logits_shape": (2, 5), "probabilities_shape": (2, 2)},
                             "expected_output_shape": (2, 3), "expected_num_losses": 1,
                             "run_training_check": False}),  # no weights to train
    "SemanticConstant": ("keras_hier.models.multilabel_zsl",
                         lambda: {"vectors": RNG.normal(size=(3, 5)).astype("float32")},
                         {"input_shape": (2, 1), "expected_output_shape": (2, 3, 5), "run_training_check": False}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_keras_layer_contract(name):
    module, init_kwargs, arguments = CASES[name]
    keras.utils.set_random_seed(0)
    TestCase().run_layer_test(layer(module, name), init_kwargs(), **arguments)


def test_learned_adjacency_contract():
    """LearnedAdjacency has no batch (its output is one weight per edge), so the harness's training step, which
    fits on batches, does not apply; the rest does."""
    from keras_hier.layers import LearnedAdjacency

    graph = class_graph()
    TestCase().run_layer_test(LearnedAdjacency, {"graph": graph, "hidden_units": 4}, input_shape=(2, 5, 6),
                              expected_output_shape=(graph.num_edges,), run_training_check=False)


def test_every_public_layer_is_checked():
    import keras_hier.layers
    import keras_hier.models

    public = set(keras_hier.layers.__all__) | {"CompositionalTransferHead", "VisionTransformer", "ViTBlock"}
    checked = set(CASES) | {"LearnedAdjacency"}
    assert public <= checked, f"add {sorted(public - checked)} to CASES"
    assert issubclass(keras_hier.models.CompositionalTransferHead, keras.layers.Layer)
