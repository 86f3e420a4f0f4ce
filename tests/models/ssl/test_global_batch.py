"""MoCo v3, DINO, iBOT and SwAV on two replicas (MirroredStrategy over two logical CPU devices) train as on one
device with the same global batch: MoCo v3's keys are gathered from both replicas, DINO's and iBOT's centres are means
over the global batch, SwAV's Sinkhorn codes and queue span it. Same loss, same state, same weights after a step."""

MIRRORED = r"""
from keras_hier.distribute import get_strategy, split_cpu
split_cpu(2)
import keras, numpy as np, tensorflow as tf
from keras_hier.backbones import vit
from keras_hier.models.ssl import DINO, IBOT, MoCoV3, SwAV
from tests.models.ssl.conftest import tiny_encoder

images = np.random.default_rng(0).uniform(size=(8, 8, 8, 1)).astype("float32")
data = tf.data.Dataset.from_tensors(images)
same = dict(augmentation=keras.layers.Identity())
local = dict(num_local_crops=1, local_size=4, local_augmentation=keras.layers.Resizing(4, 4))
head = dict(output_dim=6, hidden_units=8, bottleneck_units=4)
build = {
    "moco_v3": lambda: MoCoV3(vit((8, 8, 1), "vit_test"), projection_dim=4, hidden_units=8, **same),
    "dino": lambda: DINO(vit((8, 8, 1), "vit_test"), **head, **local, **same),
    "ibot": lambda: IBOT(vit((8, 8, 1), "vit_test", mask_token=True), mask_probability=0.0, **head, **local, **same),
    "swav": lambda: SwAV(tiny_encoder(batch_norm=False), projection_dim=4, hidden_units=8, num_prototypes=5,
                         queue_size=8, **local, **same),
}
state = {"moco_v3": [], "dino": ["center"], "ibot": ["center", "patch_center"], "swav": ["queue"]}

def train(name, strategy):
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = build[name]()
        model.compile(optimizer=keras.optimizers.SGD(0.1))
    losses = model.fit(data, epochs=1, verbose=0).history["loss"]
    return losses, [np.asarray(getattr(model, s)) for s in state[name]] + [np.asarray(w) for w in model.encoder.weights]

mirrored = get_strategy("mirrored")
results = []
for name in build:
    (l1, s1), (l2, s2) = train(name, get_strategy("none")), train(name, mirrored)
    results.append(bool(np.allclose(l1, l2, rtol=1e-4) and all(np.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in zip(s1, s2))))
print(*results)
"""


def test_cross_sample_state_spans_the_global_batch(run_mirrored):
    assert run_mirrored(MIRRORED).strip().splitlines()[-1] == "True True True True"
