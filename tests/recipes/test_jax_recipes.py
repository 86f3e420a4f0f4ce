"""The recipes under Keras' JAX backend with TensorFlow blocked, on two CPU devices: `--strategy mirrored` is a
`keras.distribution.DataParallel`, a HierNet run interrupted in its second stage and `--resume`d ends as the
uninterrupted run, and `python -m recipes.export` writes the run's SavedModel from its `serving.keras` in this
(TensorFlow) process. The GPU script's test runs the HIRL recipe there too (tests/scripts)."""

import json

import numpy as np

from tests.recipes.test_hiernet_recipe import TINY

ON_JAX = """
import json, keras, numpy as np
assert keras.backend.backend() == "jax"
from recipes import _common, hiernet
from recipes._training import Training, _stage_callbacks

report = {}
args = hiernet.parse_args(["--strategy", "mirrored"])
with _common.runtime(args):
    distribution = keras.distribution.distribution()
    report["distribution"] = [type(distribution).__name__, len(distribution.device_mesh.devices.reshape(-1))]
report["after"] = keras.distribution.distribution() is None
try:
    with _common.runtime(hiernet.parse_args(["--strategy", "multiworker"])):
        pass
except SystemExit as e:
    report["multiworker"] = str(e)

flags = TINY + ["--strategy", "mirrored"]
Training.remove_checkpoints = lambda self: None  # keep the final weights to compare
whole = hiernet.main(flags + ["--output", f"{OUT}/whole"])

EpochLog = _stage_callbacks()[2]
on_epoch_end, ended = EpochLog.on_epoch_end, []
def interrupt(self, epoch, logs=None):  # a Ctrl-C in the HierNet's second epoch, once its CSV row is written
    on_epoch_end(self, epoch, logs)
    ended.append(epoch)
    if len(ended) == 4:
        raise KeyboardInterrupt
EpochLog.on_epoch_end = interrupt
try:
    hiernet.main(flags + ["--output", f"{OUT}/resumed", "--no-export"])
except KeyboardInterrupt:
    report["interrupted"] = True
EpochLog.on_epoch_end = on_epoch_end
resumed = hiernet.main(flags + ["--output", f"{OUT}/resumed", "--no-export", "--resume"])
for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"):
    report[key] = [whole[key], resumed[key]]
report["losses"] = [whole["history"]["seed0/hiernet"]["loss"], resumed["history"]["seed0/hiernet"]["loss"]]
model = keras.saving.load_model(f"{OUT}/whole/serving.keras")
x = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 1)).astype("uint8")
np.save(f"{OUT}/probabilities.npy", model.predict(x.astype("float32") / 255.0, verbose=0))
np.save(f"{OUT}/images.npy", x)
print(json.dumps(report))
"""


def test_hiernet_recipe_on_jax_two_devices_resume_and_export(tmp_path, run_jax, run_served):
    report = run_jax(f"TINY = {TINY!r}\n" + ON_JAX, tmp_path,
                     env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    assert report["distribution"] == ["DataParallel", 2] and report["after"]
    assert "multiworker is TensorFlow's" in report["multiworker"] and report["interrupted"]
    for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"):
        assert report[key][0] == report[key][1], key
    np.testing.assert_allclose(*report["losses"], rtol=1e-6)
    saved = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    assert saved["precision"] == "float32" and saved["versions"]["backend"] == "jax"
    assert (tmp_path / "whole" / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert not (tmp_path / "whole" / "saved_model").exists()

    from recipes import export

    export.main([str(tmp_path / "whole")])
    printed = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(tmp_path / 'whole' / 'saved_model')!r})\n"
        f"out = served.signatures['serving_default'](images=tf.constant(np.load({str(tmp_path / 'images.npy')!r})))\n"
        "import json\n"
        "print(json.dumps([np.asarray(out['probabilities']).tolist(), out['routed_class'].shape.as_list()]))\n"
    )
    probabilities, routed = json.loads(printed.strip().splitlines()[-1])
    np.testing.assert_allclose(probabilities, np.load(tmp_path / "probabilities.npy"), atol=1e-5)
    assert routed == [3]
