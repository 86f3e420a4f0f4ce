"""Every public layer, loss, metric, optimizer and model of keras_hier, saved here, loads in a fresh process that has
run only `import keras_hier` (keras_hier/_registration.py), and gives the same outputs.

Layers and models are saved as `.keras` files (a layer inside a small Functional model); losses, metrics and the
optimizer as their Keras config (`keras.saving.serialize_keras_object`), which is what a `.keras` file holds for a
compiled model's loss and metrics. One subprocess loads all of them, so the test costs one TensorFlow start.
"""

import importlib
import json
import os
import pkgutil

import keras
import numpy as np
import pytest

import keras_hier
from keras_hier import Hierarchy

RNG = np.random.default_rng(0)
TREE = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"], "e": None}})
NODES = 7  # the tree's nodes without its root: the logits' width for HGR-Net's loss and metrics
CASES, COVERS = {}, {}


def case(name, covers=()):
    """Registers a builder returning `(saveable, inputs)`: a `keras.Model`, or a loss / metric / optimizer.

    `covers` names the other registered classes the saved object contains (sublayers, base classes)."""

    def register(build):
        CASES[name], COVERS[name] = build, {name, *covers}
        return build

    return register


def graph():
    from keras_hier.knowledge import ClassGraph

    names = ["cat", "dog", "car", "wolf", "truck"]
    kinds = ["seen", "unseen", "seen", "external", "external"]
    return ClassGraph(names, [f"{n}.n.01" for n in names], kinds, RNG.normal(size=(5, 4)).astype("float32"))


def images(shape=(8, 8, 1), n=4):
    return np.random.default_rng(1).random((n, *shape)).astype("float32")


def functional(layer, *shapes):
    inputs = [keras.Input(shape) for shape in shapes]
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], layer(*inputs))


def encoder(shape=(8, 8, 1)):
    inputs = keras.Input(shape)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


@case("CosineClassifier")
def _():
    from keras_hier.layers import CosineClassifier

    return functional(CosineClassifier(3, learn_scale=True), (4,)), RNG.normal(size=(2, 4)).astype("float32")


@case("ProjectionHead")
def _():
    from keras_hier.layers import ProjectionHead

    return functional(ProjectionHead(3, hidden_units=5), (4,)), RNG.normal(size=(3, 4)).astype("float32")


@case("PerImageGaussianBlur")
def _():
    from keras_hier.layers import PerImageGaussianBlur

    return functional(PerImageGaussianBlur(0.5, seed=0), (8, 8, 1)), images()


@case("TreeProbability")
def _():
    from keras_hier.layers import TreeProbability

    paths = [[(0, 0), (1, 1)], [(0, 0), (1, 0)], [(0, 1)]]
    probs = [np.full((2, 2), 0.5, "float32"), np.array([[0.2, 0.8], [0.6, 0.4]], "float32")]
    inputs = [keras.Input((2,)), keras.Input((2,))]
    return keras.Model(inputs, TreeProbability(paths)(inputs)), probs


@case("PosVAE")
def _():
    from keras_hier.layers import PosVAE

    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")
    return functional(PosVAE(4, RNG.normal(size=(3, 5)).astype("float32"), hidden_units=6, seed=0), (3,)), probs


@case("RandomApply")
def _():
    from keras_hier.layers import RandomApply

    return functional(RandomApply(keras.layers.RandomFlip("horizontal", seed=0), 0.5, seed=0), (8, 8, 1)), images()


@case("RelationalGraphConv", covers=("LearnedAdjacency",))
def _():
    from keras_hier.layers import LearnedAdjacency, RelationalGraphConv

    g = graph()
    states = keras.Input((5, 6))
    adjacency = LearnedAdjacency(g, hidden_units=4)
    x = RelationalGraphConv(4, g, learn_edges=False, activation="relu")(states, adjacency())
    x = RelationalGraphConv(2, g, edge_hidden=4)(x)  # its own adjacency sublayer
    return keras.Model(states, x), RNG.normal(size=(2, 5, 6)).astype("float32")


@case("GatedGraphPropagation")
def _():
    from keras_hier.layers import GatedGraphPropagation

    return functional(GatedGraphPropagation(graph(), steps=2, relation_dim=3), (5, 4)), \
        RNG.normal(size=(2, 5, 4)).astype("float32")


@case("CLIPEmbedding")
def _():
    import keras_hub

    from keras_hier.layers import CLIPEmbedding

    clip = keras_hub.models.CLIPBackbone(
        keras_hub.models.CLIPVisionEncoder(8, 16, 1, 2, 32, image_shape=(16, 16, 3)),
        keras_hub.models.CLIPTextEncoder(60, 16, 16, 1, 2, 32, max_sequence_length=6), projection_dim=4)
    return functional(CLIPEmbedding.from_backbone(clip, "image"), (16, 16, 3)), images((16, 16, 3), 2)


@case("MiniLMEmbedding")
def _():
    import keras_hub

    from keras_hier.layers import MiniLMEmbedding

    bert = keras_hub.models.BertBackbone(vocabulary_size=30, num_layers=1, num_heads=2, hidden_dim=8,
                                         intermediate_dim=16, max_sequence_length=6)
    inputs = keras.Input((6,), dtype="int32")
    return keras.Model(inputs, MiniLMEmbedding(bert)(inputs)), np.array([[2, 5, 9, 0, 0, 0], [3, 4, 0, 0, 0, 0]])


@case("CompositionalTransferHead")
def _():
    from keras_hier.models import CompositionalTransferHead

    head = CompositionalTransferHead(RNG.normal(size=(2, 3, 4)).astype("float32"), scale=10.0)
    return functional(head, (4,)), RNG.normal(size=(2, 4)).astype("float32")


@case("HierNetRouter")
def _():
    from keras_hier.backbones import resnet_cifar
    from keras_hier.models import HierNet

    model = HierNet.from_backbone(resnet_cifar(1, 5, input_shape=(8, 8, 1)), TREE, split_points=[1])
    return model.routing_model(), images()


@case("HierNet")
def _():
    from keras_hier.backbones import resnet_cifar
    from keras_hier.models import HierNet

    return HierNet.from_backbone(resnet_cifar(1, 5, input_shape=(8, 8, 1)), TREE, split_points=[1]), images()


@case("DualEncoder")
def _():
    from keras_hier.models import DualEncoder

    model = DualEncoder(encoder(), RNG.normal(size=(9, 5)).astype("float32"), projection_dim=4)
    return model, images()


@case("SimCLR", covers=("SelfSupervisedModel",))
def _():
    from keras_hier.models.ssl import SimCLR

    return SimCLR(encoder(), projection_dim=4, hidden_units=6), images()


@case("MoCoV2")
def _():
    from keras_hier.models.ssl import MoCoV2

    return MoCoV2(encoder(), projection_dim=4, hidden_units=6, queue_size=8, seed=0), images()


@case("SimSiam")
def _():
    from keras_hier.models.ssl import SimSiam

    return SimSiam(encoder(), projection_dim=4, predictor_units=3), images()


@case("MoCoV3")
def _():
    from keras_hier.backbones import vit
    from keras_hier.models.ssl import MoCoV3

    return MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=4, hidden_units=6), images()


@case("DINO", covers=("DINOHead", "VisionTransformer", "ViTBlock"))
def _():
    from keras_hier.backbones import vit
    from keras_hier.models.ssl import DINO

    return DINO(vit((8, 8, 1), "vit_test"), output_dim=6, hidden_units=6, bottleneck_units=4, num_local_crops=1,
                local_size=4), images()


@case("IBOT")
def _():
    from keras_hier.backbones import vit
    from keras_hier.models.ssl import IBOT

    return IBOT(vit((8, 8, 1), "vit_test", mask_token=True), output_dim=6, hidden_units=6, bottleneck_units=4,
                num_local_crops=0, seed=0), images()


@case("SwAV")
def _():
    from keras_hier.models.ssl import SwAV

    return SwAV(encoder(), projection_dim=4, hidden_units=6, num_prototypes=5, num_local_crops=1, local_size=4,
                queue_size=8), images()


@case("HIRL")
def _():
    from keras_hier.models import HIRL
    from keras_hier.models.ssl import MoCoV2

    base = MoCoV2(encoder(), projection_dim=4, hidden_units=6, queue_size=8, seed=0)
    return HIRL(base, num_prototypes=(4, 2), num_negative_paths=2, warmup_epochs=0, seed=0), images()


@case("MultiLabelZeroShot", covers=("SemanticConstant", "ProbabilityMatching", "_Repeat", "_Slice", "_SelectColumns"))
def _():
    from keras_hier.models import MultiLabelZeroShot

    inputs = keras.Input((8, 8, 1))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    backbone = keras.Model(inputs, [features, keras.layers.Dense(2, activation="softmax")(features)])
    model = MultiLabelZeroShot(backbone, graph(), variant="rgcn_xl", hidden_units=4, graph_units=(4, 4),
                               edge_hidden=3, output_hidden=3, seed=0)
    return model, images()


@case("BalancedSoftmax")
def _():
    from keras_hier.losses import BalancedSoftmax

    return BalancedSoftmax([5, 2, 1]), (np.array([0, 2]), RNG.normal(size=(2, 3)).astype("float32"))


@case("HierarchicalInfoNCE")
def _():
    from keras_hier.losses import HierarchicalInfoNCE

    labels = np.array([0, 1, 2, 4])
    return HierarchicalInfoNCE(TREE, seed=0), (labels, RNG.normal(size=(4, NODES)).astype("float32"))


MULTILABEL = ((RNG.random((4, 3)) < 0.5).astype("float32"), RNG.normal(size=(4, 3)).astype("float32"))


@case("MaskedBinaryCrossentropy")
def _():
    from keras_hier.losses import MaskedBinaryCrossentropy

    return MaskedBinaryCrossentropy([0, 2]), MULTILABEL


@case("PairwiseRankingLoss")
def _():
    from keras_hier.losses import PairwiseRankingLoss

    return PairwiseRankingLoss(num_negatives=None), (np.array([[1, 0, 0], [0, 1, 1]], "float32"), MULTILABEL[1][:2])


@case("SemanticPathDiscrimination")
def _():
    from keras_hier.losses import SemanticPathDiscrimination

    return SemanticPathDiscrimination(num_negative_paths=2, seed=0), None  # needs prototypes: config only


@case("ShotGroupAccuracy")
def _():
    from keras_hier.metrics import ShotGroupAccuracy

    return ShotGroupAccuracy([150, 50, 5], group="few"), (np.array([2, 2, 0]), np.eye(3, dtype="float32")[[2, 1, 0]])


@case("HitAtK")
def _():
    from keras_hier.metrics import HitAtK

    labels = np.array([0, 1, 2, 4])
    return HitAtK(TREE, k=2), (labels, RNG.normal(size=(4, NODES)).astype("float32"))


@case("TopOverlapRatio")
def _():
    from keras_hier.metrics import TopOverlapRatio

    labels = np.array([0, 1, 2, 4])
    return TopOverlapRatio(TREE), (labels, RNG.normal(size=(4, NODES)).astype("float32"))


@case("PointOverlapRatio")
def _():
    from keras_hier.metrics import PointOverlapRatio

    labels = np.array([0, 1, 2, 4])
    return PointOverlapRatio(TREE), (labels, RNG.normal(size=(4, NODES)).astype("float32"))


@case("MeanAveragePrecision")
def _():
    from keras_hier.metrics import MeanAveragePrecision

    return MeanAveragePrecision(3, from_logits=True), MULTILABEL


@case("MeanImageAveragePrecision")
def _():
    from keras_hier.metrics import MeanImageAveragePrecision

    return MeanImageAveragePrecision(classes=[0, 1]), MULTILABEL


@case("HierarchicalF1", covers=("HierarchicalPrecision", "HierarchicalRecall"))
def _():
    from keras_hier.metrics import HierarchicalF1

    labels = np.array([0, 1, 2, 4])
    return HierarchicalF1(TREE, average="macro", beta=2.0), (labels, RNG.random((4, 5)).astype("float32"))


@case("HierarchicalPrecision")
def _():
    from keras_hier.metrics import HierarchicalPrecision

    sets = np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 1]], "float32")
    return HierarchicalPrecision(TREE, multilabel=True, threshold=0.3), (sets, RNG.random((2, 5)).astype("float32"))


@case("HierarchicalRecall")
def _():
    from keras_hier.metrics import HierarchicalRecall

    return HierarchicalRecall(TREE), (np.array([0, 3, 4]), RNG.random((3, 5)).astype("float32"))


@case("MistakeSeverity")
def _():
    from keras_hier.metrics import MistakeSeverity

    return MistakeSeverity(TREE, kind="path"), (np.array([0, 1, 2, 4]), RNG.random((4, 5)).astype("float32"))


@case("HierarchicalDistanceAtK")
def _():
    from keras_hier.metrics import HierarchicalDistanceAtK

    return HierarchicalDistanceAtK(TREE, k=2), (np.array([0, 1, 2, 4]), RNG.random((4, 5)).astype("float32"))


@case("HierarchicalPrecisionAtK")
def _():
    from keras_hier.metrics import HierarchicalPrecisionAtK, lca_distance

    distance = lca_distance(TREE)  # a matrix instead of a hierarchy
    return HierarchicalPrecisionAtK(distance, k=3), (np.array([0, 1, 2, 4]), RNG.random((4, 5)).astype("float32"))


@case("RiskMinimisingDecision")
def _():
    from keras_hier.layers import RiskMinimisingDecision

    return functional(RiskMinimisingDecision(TREE), (5,)), RNG.dirichlet(np.ones(5), size=3).astype("float32")


@case("CoupledSGD")
def _():
    from keras_hier.optimizers import CoupledSGD

    return CoupledSGD(0.1, momentum=0.9, weight_decay=1e-4, learning_rate_multipliers={"head": 10.0}), None


@case("ScheduledAdamW")
def _():
    from keras_hier.optimizers import ScheduledAdamW

    return ScheduledAdamW(1e-3, weight_decay=0.04, weight_decay_end=0.4, weight_decay_steps=100, clipnorm=0.3), None


def evaluate(obj, inputs):
    """What the object computes on `inputs`, as a list of numpy arrays (the config, for config-only objects)."""
    if inputs is None:
        return [np.frombuffer(json.dumps(obj.get_config(), sort_keys=True, default=str).encode(), np.uint8)]
    if isinstance(obj, keras.Model):
        return [keras.ops.convert_to_numpy(x) for x in keras.tree.flatten(obj(inputs, training=False))]
    if isinstance(obj, keras.metrics.Metric):
        obj.update_state(*inputs)
        return [keras.ops.convert_to_numpy(obj.result())]
    return [keras.ops.convert_to_numpy(obj(*inputs))]


LOADER = """
import json, sys, traceback
import numpy as np
import keras_hier
import keras
sys.path.insert(0, {repo!r})
from tests.test_registration import evaluate
for name, entry in json.load(open({index!r})).items():
    try:
        if entry["file"].endswith(".keras"):
            obj = keras.saving.load_model(entry["file"])
        else:
            obj = keras.saving.deserialize_keras_object(json.load(open(entry["file"])))
        inputs = None if entry["inputs"] is None else np.load(entry["inputs"], allow_pickle=True)["inputs"]
        if inputs is not None and entry["listed"]:
            inputs = list(inputs)
        np.savez(entry["out"], *evaluate(obj, None if inputs is None else inputs))
    except Exception:
        open(entry["out"] + ".error", "w").write(traceback.format_exc())
"""


@pytest.fixture(scope="module")
def loaded_elsewhere(tmp_path_factory, request):
    """Builds and saves every case here, loads them all in one fresh process; returns `{name: (here, there)}`."""
    from tests.conftest import REPO, _run_python

    folder = tmp_path_factory.mktemp("saved")
    index, here = {}, {}
    for i, (name, build) in enumerate(sorted(CASES.items())):
        keras.utils.set_random_seed(0)
        obj, inputs = build()
        stem = str(folder / f"case{i}")
        if isinstance(obj, keras.Model):
            obj(inputs, training=False)
            obj.save(stem + ".keras")
            file = stem + ".keras"
        else:
            file = stem + ".json"
            with open(file, "w") as f:
                json.dump(keras.saving.serialize_keras_object(obj), f)
        listed = isinstance(inputs, (list, tuple))
        if inputs is not None:
            packed = np.empty(len(inputs), object) if listed else inputs
            if listed:
                packed[:] = list(inputs)
            np.savez(stem + "_in.npz", inputs=packed)
        fresh = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(obj)) \
            if not isinstance(obj, keras.Model) else obj
        here[name] = evaluate(fresh, inputs)
        index[name] = {"file": file, "inputs": None if inputs is None else stem + "_in.npz", "listed": listed,
                       "out": stem + "_out.npz"}
    with open(folder / "index.json", "w") as f:
        json.dump(index, f)
    _run_python(LOADER.format(repo=REPO, index=str(folder / "index.json")), timeout=600)
    return index, here


def all_registered_names():
    """The names keras_hier registers with Keras, after importing every one of its modules."""
    for module in pkgutil.walk_packages(keras_hier.__path__, "keras_hier."):
        importlib.import_module(module.name)
    return {k.split(">", 1)[1] for k in keras.saving.get_custom_objects() if k.startswith("keras_hier>")}


def test_every_registered_object_has_a_case():
    missing = all_registered_names() - set().union(*COVERS.values())
    assert not missing, f"add a case for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_loads_in_a_fresh_process_with_identical_outputs(name, loaded_elsewhere):
    index, here = loaded_elsewhere
    out = index[name]["out"]
    if os.path.exists(out + ".error"):
        pytest.fail(f"{name} did not load after only `import keras_hier`:\n{open(out + '.error').read()[-3000:]}")
    there = np.load(out)
    there = [there[f"arr_{i}"] for i in range(len(there.files))]
    assert len(there) == len(here[name])
    for a, b in zip(here[name], there):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_the_hook_is_in_place_when_keras_came_first():
    from keras.src.saving import serialization_lib

    from keras_hier._registration import install

    install()  # a second call changes nothing
    retrieve = serialization_lib._retrieve_class_or_fn
    assert retrieve._imports_keras_hier and not getattr(retrieve.__wrapped__, "_imports_keras_hier", False)
