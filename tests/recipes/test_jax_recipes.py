"""The recipes under Keras' JAX backend with TensorFlow blocked. HierNet on two CPU devices: `--strategy mirrored` is a
`keras.distribution.DataParallel`, a HierNet run interrupted in its second stage and `--resume`d ends as the
uninterrupted run, and `python -m recipes.export` writes the run's SavedModel from its `serving.keras` in this
(TensorFlow) process. The GPU script's test runs the HIRL recipe there too (tests/scripts)."""

import json

import numpy as np

from tests.recipes.test_hiernet_recipe import TINY

ON_JAX = """
import json, sys
class _NoNltk:  # as on the GPU machine: no WordNet, so the recipe measures its mistakes on the CPM tree
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "nltk":
            raise ImportError("NLTK is blocked in this test")
sys.meta_path.insert(0, _NoNltk())
import keras, numpy as np
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
except SystemExit as e:  # Ctrl-C ends a recipe with one line naming the --resume command, status 130
    report["interrupted"] = e.code == 130
EpochLog.on_epoch_end = on_epoch_end
resumed = hiernet.main(flags + ["--output", f"{OUT}/resumed", "--no-export", "--resume"])
for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"):
    report[key] = [whole[key], resumed[key]]
report["losses"] = [whole["history"]["seed0/hiernet"]["loss"], resumed["history"]["seed0/hiernet"]["loss"]]
report["metric_hierarchy"] = [whole["metric_hierarchy"], list(whole["hierarchical"])]
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
    assert report["metric_hierarchy"] == ["the CPM tree", ["backbone", "backbone + CRM", "HierNet slow",
                                                           "HierNet slow + CRM", "HierNet fast"]]
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


# The other three recipes at their tiniest sizes in one JAX process (HIRL's: tests/benchmarks/test_gpu_tables.py): each
# trains, writes metrics.json (backend jax) and its plots, and keeps its served model for `recipes.export`; the served
# model's probabilities on a few images, for the SavedModel written from it here.
THREE_ON_JAX = """
import json, keras, numpy as np
assert keras.backend.backend() == "jax"
from recipes import hgr_zero_shot, long_tail, multilabel_zsl

runs = {
    "hgr": (hgr_zero_shot, ["--seeds", "0", "--methods", "hgr", "--train-size", "100", "--batch-size", "50",
                            "--epochs", "1", "--projection-dim", "8", "--weighting", "adaptive"]),
    "long_tail": (long_tail, ["--seeds", "0", "--losses", "balanced_softmax", "--epochs", "0.2", "--depth", "1",
                              "--max-per-class", "200", "--eval-size", "200"]),
    "multilabel_zsl": (multilabel_zsl, ["--seeds", "0", "--variants", "rgcn_posvae", "--train-size", "128",
                                        "--val-size", "64", "--eval-size", "64", "--backbone-epochs", "0.05",
                                        "--epochs", "1", "--hidden-units", "8", "--graph-units", "8,8",
                                        "--edge-hidden", "4"]),
}
report = {}
for name, (recipe, flags) in runs.items():
    metrics = recipe.main(flags + ["--output", f"{OUT}/{name}"])
    model = keras.saving.load_model(f"{OUT}/{name}/serving.keras")
    x = np.random.default_rng(0).integers(0, 256, (2, *model.input_shape[1:])).astype("uint8")
    np.save(f"{OUT}/{name}/images.npy", x)
    np.save(f"{OUT}/{name}/probabilities.npy", np.asarray(model.predict(x.astype("float32") / 255.0, verbose=0)))
    report[name] = sorted(metrics["summary"])
print(json.dumps(report))
"""


def test_hgr_long_tail_and_multilabel_recipes_on_jax_and_their_export(tmp_path, run_jax, run_served):
    report = run_jax(THREE_ON_JAX, tmp_path)
    assert report == {"hgr": ["hgr"], "long_tail": ["balanced_softmax"], "multilabel_zsl": ["rgcn_posvae"]}
    from recipes import export

    plots = {"hgr": ["zero_shot.png", "tree.png"], "long_tail": ["shot_groups.png", "attended_classes.png"],
             "multilabel_zsl": ["class_graph.png", "unseen_miap.png"]}
    for name, pngs in plots.items():
        run = tmp_path / name
        saved = json.loads((run / "metrics.json").read_text())
        assert saved["versions"]["backend"] == "jax" and saved["precision"] == "float32", name
        assert all((run / png).read_bytes()[:4] == b"\x89PNG" for png in pngs), name
        assert not (run / "saved_model").exists()
        if name != "multilabel_zsl":  # one export here (the HierNet test exports too): a sigmoid model's
            assert (run / "serving.keras").exists() and (run / "serving.json").exists()
            continue
        export.main([str(run)])
        printed = run_served(
            "import json, numpy as np, tensorflow as tf\n"
            f"served = tf.saved_model.load({str(run / 'saved_model')!r}).signatures['serving_default']\n"
            f"out = served(images=tf.constant(np.load({str(run / 'images.npy')!r})))\n"
            "print(json.dumps(np.asarray(out['probabilities']).tolist()))\n"
        )
        expected = np.load(run / "probabilities.npy")
        activation = json.loads((run / "serving.json").read_text())["activation"]
        assert activation == "sigmoid"  # the graph model's logits
        expected = 1.0 / (1.0 + np.exp(-expected)) if activation == "sigmoid" else expected
        np.testing.assert_allclose(json.loads(printed.strip().splitlines()[-1]), expected, atol=1e-5, err_msg=name)
