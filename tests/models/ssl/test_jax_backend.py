"""The seven self-supervised bases train under Keras' JAX backend in a process where TensorFlow cannot be
imported (the lent GPU machine has none): fit, evaluate, a finite loss that moves the weights, `.keras` save and
reload there, the file loads under TensorFlow with the same features, and two steps equal TensorFlow's. (HIRL on
JAX: tests/benchmarks/test_gpu_tables.py runs its recipe there.)"""

import json

import keras
import numpy as np

from tests.conftest import weights_file_difference

# The tiny encoder every snippet below trains (defined in the child processes too).
TINY_ENCODER = """
import keras
def tiny_encoder():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, padding="same")(inputs))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x)))
"""

TRAIN_ALL = TINY_ENCODER + """
import json, numpy as np, keras
assert keras.backend.backend() == "jax"
from keras_hier.backbones import vit
from keras_hier.models.ssl import IBOT, MoCoV3, SimSiam, SwAV

# SimCLR, MoCo v2 and DINO go on from the comparison's two steps (views without random draws). The others: random
# flips for views (the default random resized crop compiles slowly under XLA on a CPU; MoCo v2's default views run
# on JAX in tests/benchmarks/test_gpu_tables.py), a random crop resized for multi-crop's small views.
def views():  # new layers for each model
    return dict(augmentation=keras.Sequential([keras.layers.RandomFlip()]))


def small():
    return dict(num_local_crops=1, local_size=4, local_augmentation=keras.Sequential(
        [keras.layers.RandomCrop(6, 6, seed=1), keras.layers.Resizing(4, 4)]))


heads = dict(output_dim=8, hidden_units=8, bottleneck_units=6)
makers = {
    "SimSiam": lambda: SimSiam(tiny_encoder(), projection_dim=6, predictor_units=3, **views()),
    "SwAV": lambda: SwAV(tiny_encoder(), projection_dim=6, hidden_units=8, num_prototypes=5, **views(), **small()),
    "MoCoV3": lambda: MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=6, hidden_units=8, **views()),
    # iBOT without small crops: a ViT on 4x4 crops costs about 20 s more of XLA compilation on a CPU (the multi-crop
    # step runs under JAX in SwAV here, iBOT's on TensorFlow in tests/models/ssl/test_ibot.py).
    "IBOT": lambda: IBOT(vit((8, 8, 1), "vit_test", mask_token=True), seed=0, **heads, **views(), num_local_crops=0),
}
images = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype("float32")
report = {}
for name in [*stepped, *makers]:
    if name in stepped:  # SimCLR, MoCo v2, DINO: the comparison's models train on (their step is compiled)
        model = stepped[name]
    else:
        model = makers[name]()
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    before = [np.array(v) for v in model.encoder.trainable_variables]
    history = model.fit(images, batch_size=8, epochs=1, verbose=0)
    moved = max(float(np.abs(np.array(v) - b).max()) for v, b in zip(model.encoder.trainable_variables, before))
    path = f"{OUT}/{name}.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    same = float(np.abs(np.asarray(again.encoder(images[:4])) - np.asarray(model.encoder(images[:4]))).max())
    np.save(f"{OUT}/{name}.npy", np.asarray(model.encoder(images[:4])))
    evaluated = model.evaluate(images, batch_size=8, verbose=0, return_dict=True)
    report[name] = {"loss": history.history["loss"], "moved": moved, "reload": same, "class": type(again).__name__,
                    "metrics": sorted(history.history), "evaluated": evaluated}
# The default random views (Keras' RandomZoom and RandomTranslation, which Keras marks as not jit-compilable for
# TensorFlow) compile with the step under JAX: `jit_compile="auto"` resolves to True (the step runs jitted in
# tests/benchmarks/test_gpu_tables.py).
default_views = MoCoV2(tiny_encoder(), projection_dim=6, hidden_units=8, queue_size=16)
default_views.compile(optimizer="sgd")
print(json.dumps({"bases": report, "steps": losses, "default_views_jit": default_views.jit_compile}))
"""


BUILD = TINY_ENCODER + """
import keras
from keras_hier.backbones import vit
from keras_hier.models.ssl import DINO, MoCoV2, SimCLR


def build(name):
    same = keras.layers.Identity()  # no random views: the two backends draw other random numbers
    model = {"SimCLR": lambda: SimCLR(tiny_encoder(), projection_dim=6, hidden_units=8, augmentation=same),
             "MoCoV2": lambda: MoCoV2(tiny_encoder(), projection_dim=6, hidden_units=8, queue_size=16, seed=0,
                                      shuffle_groups=1, augmentation=same),
             "DINO": lambda: DINO(vit((8, 8, 1), "vit_test"), output_dim=8, hidden_units=8, bottleneck_units=6,
                                  num_local_crops=0, augmentation=same)}[name]()
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model
"""

STEP = """
import numpy as np
images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
losses, stepped = {}, {}
for name in ("SimCLR", "MoCoV2", "DINO"):
    model = stepped[name] = build(name)
    model.load_weights(f"{OUT}/{name}.init.weights.h5")
    losses[name] = [float(model.train_on_batch(images)) for _ in range(2)]
    model.save_weights(f"{OUT}/{name}.{keras.backend.backend()}.weights.h5")
    if keras.backend.backend() == "tensorflow":  # the .keras file TensorFlow saves, for the JAX process to load
        model.save(f"{OUT}/{name}.tensorflow.keras")
        np.save(f"{OUT}/{name}.tensorflow.npy", np.asarray(model.encoder(images)))
    else:
        loaded = keras.saving.load_model(f"{OUT}/{name}.tensorflow.keras")
        np.save(f"{OUT}/{name}.tensorflow.on_jax.npy", np.asarray(loaded.encoder(images)))
print(json.dumps(losses))
"""


def test_every_base_on_jax_and_two_steps_as_on_tensorflow(tmp_path, run_jax):
    """Two steps from the same initial weights and batch (views without random draws) on JAX give the losses (1e-4) and
    weights (1e-5 of each variable's largest value) of two steps on TensorFlow: the optimizer state, momentum
    encoders, queues, centres and step counters included; and the `.keras` file TensorFlow saved loads under JAX with
    the same features."""
    namespace = {"OUT": str(tmp_path), "json": json}
    exec(BUILD, namespace)
    for name in ("SimCLR", "MoCoV2", "DINO"):
        namespace["build"](name).save_weights(tmp_path / f"{name}.init.weights.h5")
    exec(STEP, namespace)
    report = run_jax("import json\n" + BUILD + STEP + TRAIN_ALL, tmp_path)  # one JAX process for both checks
    jax_losses = report["steps"]
    assert report["default_views_jit"] is True
    for name in ("SimCLR", "MoCoV2", "DINO"):
        # Relative to each variable's size (float32 sums in another order: about 1e-6 of it).
        worst = weights_file_difference(tmp_path / f"{name}.tensorflow.weights.h5", tmp_path / f"{name}.jax.weights.h5")
        print(f"{name}: largest relative weight difference after two steps {worst[0]:.1e} ({worst[1]})")
        assert worst[0] < 1e-5, (name, worst)
        assert np.allclose(jax_losses[name], namespace["losses"][name], atol=1e-4), (name, jax_losses[name])
        # A file TensorFlow saved loads under JAX with the same features.
        np.testing.assert_allclose(np.load(tmp_path / f"{name}.tensorflow.on_jax.npy"),
                                   np.load(tmp_path / f"{name}.tensorflow.npy"), atol=1e-5, err_msg=name)

    # Every base: fit, evaluate, a finite loss that moves the weights, `.keras` round trip under JAX, and the
    # file loads under TensorFlow (this process) with the same features.
    report = report["bases"]
    assert sorted(report) == ["DINO", "IBOT", "MoCoV2", "MoCoV3", "SimCLR", "SimSiam", "SwAV"]
    images = np.random.default_rng(0).uniform(size=(16, 8, 8, 1)).astype("float32")
    for name, row in report.items():
        assert all(np.isfinite(row["loss"])) and row["moved"] > 0, (name, row)
        assert row["reload"] < 1e-6 and row["class"] == name, (name, row)
        assert sorted(row["evaluated"]) == row["metrics"] and all(np.isfinite(list(row["evaluated"].values())))
        # The file written on JAX loads under TensorFlow (this process) with the same features.
        model = keras.saving.load_model(tmp_path / f"{name}.keras")
        np.testing.assert_allclose(np.asarray(model.encoder(images[:4])), np.load(tmp_path / f"{name}.npy"),
                                   atol=1e-5, err_msg=name)
    assert report["IBOT"]["metrics"] == ["cls_loss", "loss", "patch_loss"]
