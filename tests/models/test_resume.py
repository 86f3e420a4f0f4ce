"""Interrupt-and-resume with `keras.callbacks.BackupAndRestore` ends with exactly the weights and optimizer state of
an uninterrupted run, for HierNet, DualEncoder (with its adaptive-weights optimizer), MultiLabelZeroShot and
HIRL(MoCoV2) (momentum encoder, queue, prototypes)."""

import keras
import numpy as np
import pytest

from keras_hier import Hierarchy

TREE = Hierarchy.from_nested({"root": {"g1": ["a", "b"], "g2": ["c", "d"], "e": None}})
IMAGES = np.random.default_rng(0).random((16, 8, 8, 1)).astype("float32")


def encoder():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))


def hiernet():
    from keras_hier.backbones import resnet_cifar
    from keras_hier.models import HierNet

    model = HierNet.from_backbone(resnet_cifar(1, 5, input_shape=(8, 8, 1)), TREE, split_points=[1])
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model, (IMAGES, np.arange(16) % 5)


def dual_encoder():
    from keras_hier.losses import HierarchicalInfoNCE
    from keras_hier.models import DualEncoder

    model = DualEncoder(encoder(), np.random.default_rng(1).normal(size=(7, 5)).astype("float32"), projection_dim=4)
    loss = HierarchicalInfoNCE(TREE, weighting="adaptive", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, weights_optimizer=keras.optimizers.SGD(0.1))
    return model, (IMAGES, np.arange(16) % 5)


def multilabel():
    from keras_hier.knowledge import ClassGraph
    from keras_hier.losses import MaskedBinaryCrossentropy
    from keras_hier.models import MultiLabelZeroShot

    names = ["cat", "dog", "car", "wolf", "truck"]
    graph = ClassGraph(names, [f"{n}.n.01" for n in names], ["seen", "unseen", "seen", "external", "external"],
                       np.random.default_rng(2).normal(size=(5, 4)).astype("float32"))
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    backbone = keras.Model(inputs, [features, keras.layers.Dense(2, activation="softmax")(features)])
    model = MultiLabelZeroShot(backbone, graph, variant="rgcn_posvae", hidden_units=4, graph_units=(4, 4),
                               edge_hidden=3, output_hidden=3, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedBinaryCrossentropy(model.seen))
    return model, (IMAGES, (np.random.default_rng(3).random((16, 3)) < 0.5).astype("float32"))


def hirl():
    from keras_hier.models import HIRL
    from keras_hier.models.ssl import MoCoV2

    base = MoCoV2(encoder(), projection_dim=4, hidden_units=6, queue_size=8, seed=0)
    model = HIRL(base, num_prototypes=(4, 2), num_negative_paths=2, warmup_epochs=1, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return model, (IMAGES, np.arange(16))


def state(model):
    """Every variable of the model and of its optimizers, as numpy."""
    variables = list(model.variables) + list(model.optimizer.variables)
    extra = getattr(model, "weights_optimizer", None)
    if extra is not None:
        variables += list(extra.variables) + list(model.loss.trainable_variables)
    return [np.asarray(v) for v in variables]


class Snapshot(keras.callbacks.Callback):
    """Copies the backup folder as it is after the first epoch: what a run interrupted then leaves on disk."""

    def __init__(self, backup, copy):
        super().__init__()
        self.backup, self.copy = backup, copy

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            import shutil

            shutil.copytree(self.backup, self.copy)


@pytest.mark.parametrize("build", [hiernet, dual_encoder, multilabel, hirl], ids=lambda b: b.__name__)
def test_interrupt_and_resume_equals_an_uninterrupted_run(build, tmp_path):
    """A two-epoch run backed up by `BackupAndRestore` (its backup folder copied after the first epoch, as an
    interrupted run would leave it) against a new model resumed from that copy: equal weights and optimizer state."""
    def fit(callbacks):
        keras.utils.set_random_seed(0)
        model, (x, y) = build()
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=callbacks)
        return model

    backup, interrupted = str(tmp_path / "backup"), str(tmp_path / "interrupted")
    uninterrupted = state(fit([keras.callbacks.BackupAndRestore(backup), Snapshot(backup, interrupted)]))
    epochs_run = []
    ran = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: epochs_run.append(epoch))
    with pytest.warns() as caught:
        resumed = state(fit([keras.callbacks.BackupAndRestore(interrupted), ran]))
        keras.utils.set_random_seed(0)
    assert epochs_run == [1]  # the second epoch only: the run resumed (a new run would end equal too)
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert len(resumed) == len(uninterrupted)
    for a, b in zip(uninterrupted, resumed):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("build", [hiernet, dual_encoder, multilabel], ids=lambda b: b.__name__)
def test_compile_builds_the_optimizer_so_fit_traces_its_step_once(build, tmp_path):
    # Without a distribution strategy Keras creates the optimizer's slots inside the first traced step, and
    # TensorFlow then traces that step twice; `compile` builds them first. A `.keras` file's compile config builds
    # them once too (Keras' own `compile_from_config` would add a second set).
    model, (x, y) = build()
    slots = len(model.optimizer.variables)
    assert model.optimizer.built and slots > 2
    traced = []
    step = model.train_step
    model.train_step = lambda data: traced.append(1) or step(data)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert len(traced) == 1
    del model.train_step
    model.save(tmp_path / "model.keras")
    assert len(keras.saving.load_model(tmp_path / "model.keras").optimizer.variables) == slots
