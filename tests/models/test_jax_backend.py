"""HierNet, DualEncoder (HGR-Net's adaptive layer weights on their own optimizer), MultiLabelZeroShot (the dense and
the sparse graph paths, PosVAE) and the long-tail cosine classifier and transfer head train under Keras' JAX backend
with TensorFlow blocked: fit, evaluate, `.keras` round trip there, files load across the backends (JAX's under
TensorFlow, TensorFlow's under JAX) with the same predictions, and two steps from the same weights equal
TensorFlow's (the SSL bases: tests/models/ssl)."""

import keras
import numpy as np

from tests.conftest import weights_file_difference

# Builds each model of the comparison, the same way on both backends; no random draws in the training step
# (no negative sampling, no PosVAE noise), so the two backends' steps can be compared.
BUILD = """
import keras, numpy as np
from keras_hier import Hierarchy
from keras_hier.backbones import resnet_cifar
from keras_hier.knowledge import ClassGraph
from keras_hier.layers import CosineClassifier
from keras_hier.losses import BalancedSoftmax, HierarchicalInfoNCE, MaskedBinaryCrossentropy, PairwiseRankingLoss
from keras_hier.models import DualEncoder, HierNet, MultiLabelZeroShot
from keras_hier.optimizers import CoupledSGD

TREE = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"], "e": None}})
GRAPH = ClassGraph(["dog", "cat", "car", "sandal", "wolf", "sneaker", "truck"],
                   ["dog.n.01", "cat.n.01", "car.n.01", "sandal.n.01", "wolf.n.01", "sneaker.n.01", "truck.n.01"],
                   ["seen", "seen", "seen", "unseen", "external", "external", "external"],
                   np.random.default_rng(0).normal(size=(7, 6)).astype("float32"))
rng = np.random.default_rng(0)
DATA = {"images": rng.random((16, 16, 16, 1)).astype("float32"), "labels": np.arange(16) % 5,
        "canvases": rng.random((16, 12, 12, 1)).astype("float32"),
        "multilabels": (rng.random((16, 4)) < 0.4).astype("float32")}


def conv(shape, two_outputs=False):
    keras.utils.set_random_seed(0)
    images = keras.Input(shape)
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3, activation="relu")(images))
    outputs = [features, keras.layers.Dense(3, activation="softmax")(features)] if two_outputs else features
    return keras.Model(images, outputs)


def build(name):
    \"\"\"`(model, x, y)` compiled.\"\"\"
    if name == "HierNet":
        keras.utils.set_random_seed(0)
        model = HierNet.from_backbone(resnet_cifar(1, 5, input_shape=(16, 16, 1)), TREE, split_points=[2])
        model.compile(optimizer=CoupledSGD(0.05, weight_decay=5e-4, momentum=0.9),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model, DATA["images"], DATA["labels"]
    if name == "DualEncoder":
        model = DualEncoder(conv((16, 16, 1)), np.random.default_rng(1).normal(size=(7, 5)).astype("float32"),
                            projection_dim=4)
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=HierarchicalInfoNCE(TREE, weighting="adaptive", outer_ratio=1.0, inner_ratio=1.0),
                      weights_optimizer=keras.optimizers.SGD(0.02))  # a larger rate saturates their softmax
        return model, DATA["images"], DATA["labels"]
    if name.startswith("MultiLabelZeroShot"):
        variant, propagation = name.split("-")[1:]
        model = MultiLabelZeroShot(conv((12, 12, 1), two_outputs=True), GRAPH, variant=variant, hidden_units=8,
                                   graph_units=(8, 8), edge_hidden=4, output_hidden=4, seed=0)
        for layer in model.layers:  # the sparse path: TF-GNN under TensorFlow, keras.ops under JAX
            if hasattr(layer, "chosen_propagation"):
                layer.chosen_propagation = propagation
        loss = PairwiseRankingLoss(columns=model.seen, seed=0) if variant == "skg" else \\
            MaskedBinaryCrossentropy(model.seen)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss)
        return model, DATA["canvases"], DATA["multilabels"]
    encoder = conv((16, 16, 1))
    model = keras.Model(encoder.inputs, CosineClassifier(5, scale=16.0, name="cosine_classifier",
                                                         dtype="float32")(encoder.outputs[0]))
    model.compile(optimizer=CoupledSGD(0.05, weight_decay=5e-4, momentum=0.9),
                  loss=BalancedSoftmax(np.array([8, 4, 2, 1, 1])), metrics=["accuracy"])
    return model, DATA["images"], DATA["labels"]


COMPARED = ["HierNet", "DualEncoder", "MultiLabelZeroShot-rgcn-sparse", "MultiLabelZeroShot-rgcn_xl-dense",
            "LongTail"]
LOADED = ["DualEncoder", "LongTail"]  # TensorFlow's files loaded under JAX (every model's JAX file under TensorFlow)


stepped = {}  # name -> (model, x, y) after its two steps


def two_steps(name):
    \"\"\"Two steps from the weights the TensorFlow process saved; the losses, the weights saved.\"\"\"
    model, x, y = stepped[name] = build(name)
    model.load_weights(f"{OUT}/{name}.init.weights.h5")
    losses = [float(model.train_on_batch(x[:8], y[:8], return_dict=True)["loss"]) for _ in range(2)]
    model.save_weights(f"{OUT}/{name}.{keras.backend.backend()}.weights.h5")
    return losses
"""

# Under JAX: the comparison's two steps, then every model (the ones with random draws too) fits, evaluates, saves and
# reloads; mixed precision for the dual encoder (its second optimizer under loss scaling).
ON_JAX = BUILD + """
import json
from keras_hier.layers import RelationalGraphConv
from keras_hier.models import CompositionalTransferHead
from keras_hier.prototypes import class_prototypes

assert keras.backend.backend() == "jax"
report = {"steps": {name: two_steps(name) for name in COMPARED}}
for name in LOADED:  # the files TensorFlow saved after its two steps predict here as there
    model, x, _ = build(name)
    loaded = keras.saving.load_model(f"{OUT}/{name}.tensorflow.keras")  # called eagerly: nothing to compile
    np.save(f"{OUT}/{name}.tensorflow.on_jax.npy", np.asarray(keras.tree.flatten(loaded(x[:4], training=False))[0]))
for name in ("HierNet", "DualEncoder", "MultiLabelZeroShot-skg-dense", "MultiLabelZeroShot-rgcn_posvae-sparse",
             "LongTail"):
    model, x, y = stepped[name] if name in stepped else build(name)  # a compared model goes on (its step compiled)
    before = [np.array(v) for v in model.trainable_variables]
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    moved = max(float(np.abs(np.array(v) - b).max()) for v, b in zip(model.trainable_variables, before))
    evaluated = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    if name == "HierNet":  # routing under jit (fixed chunks), on node classifiers whose routes differ
        for node in model.internal_nodes:
            dense = model.node_layer(node, "dense")
            dense.kernel.assign(np.random.default_rng(1).normal(0, 30, dense.kernel.shape).astype("float32"))
        router = model.routing_model(chunk_size=3)
        np.save(f"{OUT}/routed.npy", np.concatenate([router.predict(x[:8], verbose=0),
                                                     router.predict_on_batch(x[3:4]),
                                                     np.asarray(router(x[:0])).reshape(0, 5)]))
    model.save(f"{OUT}/{name}.keras")
    predicted = model(x[:4], training=False)  # eager calls: nothing more to compile
    again = keras.saving.load_model(f"{OUT}/{name}.keras")(x[:4], training=False)
    np.save(f"{OUT}/{name}.npy", np.asarray(keras.tree.flatten(predicted)[0]))
    report[name] = {"loss": history["loss"], "moved": moved, "evaluated": evaluated,
                    "reload": max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                                  for a, b in zip(keras.tree.flatten(predicted), keras.tree.flatten(again)))}
    if name == "DualEncoder":
        report[name]["optimizer_steps"] = [int(model.optimizer.iterations), int(model.weights_optimizer.iterations)]
        report[name]["layer_weights"] = np.asarray(model.loss.layer_weights).tolist()
    if name == "LongTail":  # the compositional transfer head on the trained classifier
        encoder = keras.Model(model.inputs, model.layers[-2].output)
        prototypes, counts = class_prototypes(encoder, [(x, y)], 5)
        head = CompositionalTransferHead.from_classifier(model.get_layer("cosine_classifier"), prototypes, counts,
                                                         ks=(3,))
        transfer = keras.Model(encoder.inputs, head(encoder.outputs[0]))
        transfer.save(f"{OUT}/transfer.keras")
        report["transfer"] = float(np.abs(np.asarray(keras.saving.load_model(f"{OUT}/transfer.keras")(x[:4]))
                                          - np.asarray(transfer(x[:4]))).max())

# Mixed precision (a LossScaleOptimizer, and the second optimizer on the unscaled loss) with negative sampling: the
# loss's random draws move from step to step (its generator travels in the JAX step).
keras.mixed_precision.set_global_policy("mixed_float16")
loss = HierarchicalInfoNCE(TREE, weighting="adaptive", outer_ratio=1.0, inner_ratio=1.0, max_classes=2, seed=3)
model = DualEncoder(conv((16, 16, 1)), np.random.default_rng(1).normal(size=(7, 5)).astype("float32"), projection_dim=4)
model.compile(optimizer="sgd", loss=loss, weights_optimizer=keras.optimizers.SGD(0.02))
start, before = np.array(loss.seed_generator.state), np.asarray(loss.layer_weights).copy()
history = model.fit(DATA["images"], DATA["labels"], batch_size=8, epochs=1, verbose=0).history
report["mixed_float16"] = {"loss": history["loss"], "scaled": type(model.optimizer).__name__,
                           "layer_weights_moved": float(np.abs(np.asarray(loss.layer_weights) - before).max()),
                           "sampling_draws": int(np.array(loss.seed_generator.state)[1] - start[1])}

# GatedGraphPropagation in training: the unseen node's rows of the propagation matrix are empty. Their norm went
# through sqrt(0), whose infinite derivative times the zero gradient of the unused `where` branch made every JAX
# gradient NaN (tests/layers/test_gated_graph_propagation.py: the layer against the reference code).
import jax, jax.numpy as jnp
from keras_hier.layers import GatedGraphPropagation
keras.mixed_precision.set_global_policy("float32")
gated = GatedGraphPropagation(ClassGraph(["dog", "animal", "cat", "car", "truck"],
                                         ["dog.n.01", "animal.n.01", "cat.n.01", "car.n.01", "truck.n.01"],
                                         ["seen", "seen", "unseen", "seen", "seen"],
                                         rng.normal(size=(5, 6)).astype("float32"), threshold=0.8),
                              steps=2, relation_dim=5)
states = rng.normal(size=(4, 5, 4)).astype("float32")
gated.build(states.shape)
fixed = [v.value for v in gated.non_trainable_variables]
grads = jax.grad(lambda trained: jnp.sum(gated.stateless_call(trained, fixed, states, training=True)[0]))(
    [v.value for v in gated.trainable_variables])
report["gated_gradients_finite"] = all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
print(json.dumps(report))
"""


def test_every_model_trains_on_jax_and_steps_as_on_tensorflow(tmp_path, run_jax):
    namespace = {"OUT": str(tmp_path)}
    exec(BUILD, namespace)
    for name in namespace["COMPARED"]:
        namespace["build"](name)[0].save_weights(tmp_path / f"{name}.init.weights.h5")
    tf_losses = {name: namespace["two_steps"](name) for name in namespace["COMPARED"]}
    for name in namespace["LOADED"]:  # what TensorFlow saves loads under JAX (below)
        model, x, _ = namespace["build"](name)
        model.load_weights(tmp_path / f"{name}.tensorflow.weights.h5")
        model.save(tmp_path / f"{name}.tensorflow.keras")
        np.save(tmp_path / f"{name}.tensorflow.npy", np.asarray(keras.tree.flatten(model(x[:4], training=False))[0]))
    report = run_jax(ON_JAX, tmp_path)

    # Two steps from the same weights and batch: the same losses (1e-4) and weights (1e-5 of each variable's
    # largest value; float32 sums in another order), optimizer slots, BatchNorm statistics, the dual encoder's
    # adaptive layer weights (in its weights file's training state) included.
    for name in namespace["COMPARED"]:
        worst = weights_file_difference(tmp_path / f"{name}.tensorflow.weights.h5", tmp_path / f"{name}.jax.weights.h5")
        print(f"{name}: largest relative weight difference after two steps {worst[0]:.1e} ({worst[1]})")
        assert worst[0] < 1e-5, (name, worst)
        assert np.allclose(report["steps"][name], tf_losses[name], atol=1e-4), (name, report["steps"][name])

    for name in namespace["LOADED"]:
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.tensorflow.on_jax.npy"),
                                   np.load(tmp_path / f"{name}.tensorflow.npy"), atol=1e-5, err_msg=name)
    x = {n: namespace["build"](n)[1][:4] for n in ("HierNet", "MultiLabelZeroShot-skg-dense")}
    for name in ("HierNet", "DualEncoder", "MultiLabelZeroShot-skg-dense", "MultiLabelZeroShot-rgcn_posvae-sparse",
                 "LongTail"):
        row = report[name]
        assert all(np.isfinite(row["loss"])) and row["moved"] > 0 and row["reload"] < 1e-6, (name, row)
        assert all(np.isfinite(list(row["evaluated"].values()))), (name, row)
        # The file written on JAX loads under TensorFlow (this process) and predicts the same.
        model = keras.saving.load_model(tmp_path / f"{name}.keras")
        images = x["MultiLabelZeroShot-skg-dense" if name.startswith("Multi") else "HierNet"]
        predicted = keras.tree.flatten(model(images, training=False))[0]
        np.testing.assert_allclose(np.asarray(predicted), np.load(tmp_path / f"{name}.npy"), atol=1e-5, err_msg=name)
    # HierNet's jitted router (fixed chunks, a batch of one, an empty batch) routes as TensorFlow's.
    hiernet = keras.saving.load_model(tmp_path / "HierNet.keras")
    routed = hiernet.routing_model().predict(namespace["DATA"]["images"][:8], verbose=0)
    assert len({tuple(r) for r in routed.argmax(1)[:, None]}) > 1  # the images take different routes
    np.testing.assert_allclose(np.load(tmp_path / "routed.npy"), np.concatenate([routed, routed[3:4]]), atol=1e-5)
    assert report["DualEncoder"]["optimizer_steps"] == [6, 6]  # two steps, then two epochs of two
    assert report["transfer"] < 1e-6
    mixed = report["mixed_float16"]
    assert np.isfinite(mixed["loss"]).all() and mixed["scaled"] == "LossScaleOptimizer"
    assert mixed["layer_weights_moved"] > 0 and mixed["sampling_draws"] == 2
    assert report["gated_gradients_finite"]
