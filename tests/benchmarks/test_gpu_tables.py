"""scripts/gpu_tables.sh at its tiny size on the CPU, as the GPU machine runs it: Keras' JAX backend with TensorFlow,
TF-GNN, keras-hub and NLTK unimportable (the GPU image has none of them); both tables' metrics.json and the
rebuilt markdown; the HIRL recipe on JAX (warm-up, then L_SPD; its file loads under TensorFlow)."""

import json
import os
import subprocess
import sys

import numpy as np

from benchmarks import gpu_tables
from tests.conftest import REPO, SINGLE_THREADED_XLA, jax_cache_env

# Imported first by every Python process started with this folder on PYTHONPATH.
SITECUSTOMIZE = """
import sys
class _NotOnTheGpuMachine:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_gnn", "tf_keras", "keras_hub", "nltk"):
            raise ImportError(f"not installed on the GPU machine: {name}")
sys.meta_path.insert(0, _NotOnTheGpuMachine())
"""


def test_tiny_run_without_tensorflow(tmp_path, jax_cache):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out, docs = tmp_path / "tables", tmp_path / "gpu_tables.md"
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "PYTHON": sys.executable, **jax_cache_env(jax_cache),
           "XLA_FLAGS": SINGLE_THREADED_XLA}
    # The HIRL table (the HierNet recipe on JAX: tests/recipes/test_jax_recipes.py; its table below).
    done = subprocess.run(["bash", "scripts/gpu_tables.sh", "--size", "tiny", "--tables", "hirl", "--output", str(out),
                           "--docs", str(docs), "--minutes", "10"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    hirl = json.loads((out / "hirl" / "metrics.json").read_text())
    assert hirl["backend"] == "jax" and not hirl["skipped"] and hirl["device"]["accelerator"].startswith("cpu")
    run = hirl["runs"]["moco_v2"]
    assert 0 <= run["untrained"]["summary"]["knn_top1"]["mean"] <= 1
    assert len(run["summary"]) == 2 and "--untrained" in run["command"]
    # HIRL's step on JAX: the warm-up epoch without L_SPD, then L_SPD over the prototypes clustered after it (the
    # clustering state travels in the jitted step; K-means in NumPy); its .keras file loads under TensorFlow.
    spd = json.loads((out / "hirl" / "moco_v2" / "metrics.json").read_text())["history"]["seed0/hirl"]["spd_loss"]
    assert spd[0] == 0.0 and spd[1] > 0
    import keras

    model = keras.saving.load_model(out / "hirl" / "moco_v2" / "hirl.keras")
    images = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    assert type(model).__name__ == "HIRL" and np.isfinite(np.asarray(model.encoder(images))).all()
    text = docs.read_text()
    assert "| moco_v2 | untrained encoder |" in text and "| moco_v2 | HIRL-MoCo v2 |" in text
    # --rebuild alone gives the same file from the stored metrics.json files.
    again = tmp_path / "again.md"
    assert gpu_tables.main(["--rebuild", "--output", str(out), "--docs", str(again)]) == str(again)
    assert again.read_text() == text


def test_hiernet_table_from_its_record():
    def stats(mean, std):
        return {"mean": mean, "std": std}

    record = {"table": "hiernet", "skipped": ["A4"], "runs": {"A2": {"seconds": 90.0, "summary": {
        "backbone_accuracy": stats(0.9, 0.01), "hiernet_slow_accuracy": stats(0.905, 0.02),
        "hiernet_fast_accuracy": stats(0.9125, 0.0)}}}}
    assert gpu_tables.table_markdown(record).splitlines() == [
        "| network | backbone | HierNet slow | HierNet fast | fast - backbone | minutes |", "|---|---|---|---|---|---|",
        "| ResNet-20, split 5, A = 2 (the paper's) | 90.00 ± 1.00 | 90.50 ± 2.00 | 91.25 ± 0.00 | +1.25 | 1.5 |", "",
        "Not run (no time left in the budget): A4."]


def test_a_run_that_cannot_finish_in_time_is_skipped_and_said_so(tmp_path):
    args = gpu_tables.parse_args(["--size", "tiny", "--output", str(tmp_path)])
    record = gpu_tables.run_table("hirl", gpu_tables.BUDGETS["tiny"]["hirl"], args, deadline=0)
    assert record["skipped"] == ["moco_v2"] and record["runs"] == {}
    assert "Not run (no time left in the budget): moco_v2." in gpu_tables.table_markdown(record)


def test_every_full_size_run_is_a_valid_recipe_command(tmp_path):
    """The full budget's flags, as the GPU machine would pass them: each parses, and each HierNet split point leaves
    its network's later blocks for the classifiers (a wrong one would only fail there, minutes into the run)."""
    from recipes import hiernet, hirl

    for name, recipe in (("hiernet", hiernet), ("hirl", hirl)):
        budget = gpu_tables.BUDGETS["full"][name]
        for variant, flags in budget["variants"].items():
            args = recipe.parse_args(budget["flags"] + flags + ["--output", str(tmp_path / variant), "--no-export"])
            if name == "hiernet":
                assert variant in gpu_tables.HIERNET_VARIANTS
                _, _, split, extra = hiernet.tree_settings(args, 10)
                assert split + extra <= 3 * args.n, variant
