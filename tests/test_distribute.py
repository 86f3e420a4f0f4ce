"""get_strategy: the strategies by name, TF_CONFIG errors, and a training step of keras_hier layers and loss under
MirroredStrategy on two logical CPU devices giving the loss and weights of one device for the same global batch."""

import pytest

from keras_hier.distribute import get_strategy

MIRRORED_STEP = r"""
from keras_hier.distribute import get_strategy, split_cpu
split_cpu(2)
import keras, numpy as np
from keras_hier.layers import CosineClassifier
from keras_hier.losses import BalancedSoftmax

def build():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, CosineClassifier(3)(keras.layers.Dense(4)(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=BalancedSoftmax([10, 5, 1]))
    return model

rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 6)).astype("float32"), rng.integers(0, 3, 8)
single = build()
strategy = get_strategy("mirrored")
with strategy.scope():
    mirrored = build()
losses = [[float(m.train_on_batch(x, y)) for _ in range(3)] for m in (single, mirrored)]
same = all(np.allclose(a, b, atol=1e-5) for a, b in zip(single.get_weights(), mirrored.get_weights()))
print(strategy.num_replicas_in_sync, np.allclose(losses[0], losses[1], atol=1e-5), same)
"""


def test_mirrored_on_two_cpu_devices_matches_one_device(run_python):
    assert run_python(MIRRORED_STEP).strip().splitlines()[-1] == "2 True True"


def test_names_and_errors(monkeypatch):
    assert get_strategy("none").num_replicas_in_sync == 1
    assert get_strategy("auto").num_replicas_in_sync == 1  # no GPUs here
    with pytest.raises(ValueError, match="Unknown strategy"):
        get_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        get_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{cluster")
    with pytest.raises(ValueError, match="not valid JSON"):
        get_strategy("multiworker")
