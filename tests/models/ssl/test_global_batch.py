"""MoCo v3, DINO, iBOT and SwAV on two replicas (MirroredStrategy over two logical CPU devices) compute their loss and
their cross-sample state as one device does with the same global batch: MoCo v3's keys are gathered from both
replicas, DINO's and iBOT's centres are means over the global batch, SwAV's Sinkhorn codes and queue span it. One
forward step each (the loss, as the replicas' mean, and the state after it); that the replicas' gradients add up to
one device's is tested on SimCLR and MoCo v2 (test_simclr.py)."""

MIRRORED = r"""
from keras_hier.distribute import get_strategy, split_cpu
split_cpu(2)
import keras, numpy as np, tensorflow as tf
from keras_hier.backbones import vit
from keras_hier.models.ssl import DINO, IBOT, MoCoV3, SwAV
from tests.models.ssl.conftest import tiny_encoder

# Images of different contrast: with uniform noise alone a ViT's class tokens barely differ between images, and the
# synchronised batch norms' one-pass variance (E[x^2] - E[x]^2 over the replicas) loses the little spread there is to
# rounding, more than one device's two-pass variance (PyTorch's epsilon, 1e-5, no longer hides it): MoCo v3's
# batch-normed heads agree to about 1e-4 of the loss, hence the tolerance below (keys gathered wrongly, or not at all,
# change the loss by far more).
rng = np.random.default_rng(0)
images = (rng.uniform(size=(8, 8, 8, 1)) * rng.uniform(0.2, 3.0, size=(8, 1, 1, 1))).astype("float32")
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

def step(model, x):
    return model.view_loss(*model.views(x), training=True)[0]

mirrored = get_strategy("mirrored")
batches = mirrored.experimental_distribute_dataset(tf.data.Dataset.from_tensors(images).unbatch().batch(8))
batch = next(iter(batches))
results = []
for name in build:
    keras.utils.set_random_seed(0)
    one = build[name]()
    with mirrored.scope():
        keras.utils.set_random_seed(0)
        two = build[name]()
    loss = float(step(one, images))
    replicas = mirrored.experimental_local_results(mirrored.run(tf.function(lambda x: step(two, x), autograph=False), args=(batch,)))
    after = [np.allclose(np.asarray(getattr(one, s)), np.asarray(getattr(two, s)), atol=1e-5) for s in state[name]]
    results.append(len(replicas) == 2 and abs(float(np.mean(replicas)) - loss) < 1e-3 * max(1.0, abs(loss))
                   and all(after))
print(*results)
"""


def test_cross_sample_state_spans_the_global_batch(run_mirrored):
    assert run_mirrored(MIRRORED).strip().splitlines()[-1] == "True True True True"
