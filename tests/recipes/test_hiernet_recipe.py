"""The HierNet recipe end to end on a tiny budget: metrics, plots, and an export that reloads in a fresh process."""

import json

import numpy as np
import pytest

from recipes import hiernet as recipe
from recipes._common import budget_difference
from recipes.demo import RECIPE_STEPS

TOUR_FLAGS = next(flags for key, _, _, flags in RECIPE_STEPS if key == "hiernet")


# Two epochs of 5 steps per stage, so that a run can be interrupted after one.
TINY = TOUR_FLAGS + ["--n", "1", "--train-size", "500", "--eval-size", "200", "--batch-size", "50",
                     "--backbone-epochs", "2", "--epochs", "2", "--steps-per-epoch", "5", "--p-min", "0",
                     "--g-max", "5"]


def stage_weights(out):
    """Each training stage's final weights, as `Training` kept them in OUTPUT/checkpoints."""
    import h5py

    found = {}
    for path in sorted((out / "checkpoints").rglob("final.weights.h5")):
        with h5py.File(path, "r") as f:
            f.visititems(lambda name, item: found.__setitem__(f"{path.parent.name}/{name}", item[()])
                         if isinstance(item, h5py.Dataset) else None)
    return found


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny run, its checkpoints kept (a run removes them once it succeeded) to compare a resumed run with, and
    a copy of its output folder as a run interrupted in the HierNet's second epoch leaves it: taken when that epoch's
    CSV row is written, before its backup (the backbone stage finished, the HierNet backed up after epoch 1)."""
    import shutil

    import keras

    from recipes._training import Training, _stage_callbacks

    root = tmp_path_factory.mktemp("hiernet")
    out, interrupted = root / "run", root / "interrupted"
    epochs_ended = []
    EpochLog = _stage_callbacks()[2]
    on_epoch_end = EpochLog.on_epoch_end

    def snapshot(self, epoch, logs=None):
        on_epoch_end(self, epoch, logs)
        epochs_ended.append(epoch)
        if len(epochs_ended) == 4:  # backbone epochs 1-2, HierNet epoch 1, then HierNet epoch 2 before its backup
            shutil.copytree(out, interrupted)

    remove = Training.remove_checkpoints
    Training.remove_checkpoints = lambda self: None
    EpochLog.on_epoch_end = snapshot
    try:
        metrics = recipe.main(TINY + ["--output", str(out)])
    finally:
        Training.remove_checkpoints = remove
        EpochLog.on_epoch_end = on_epoch_end
    return out, metrics, interrupted


def test_tiny_run(tiny, run_served):
    out, metrics, _ = tiny
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["backbone_accuracy"] == metrics["backbone_accuracy"]
    for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"):
        assert 0.0 <= saved[key] <= 1.0
    groups = saved["groups"]
    assert sorted(c for members in groups.values() for c in members) == sorted(
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    )
    assert all(len(members) <= 5 for members in groups.values()) and len(groups) >= 2
    # How bad the mistakes are on WordNet: one row per model, their accuracies the recipe's own, CRM rows beside.
    rows = saved["hierarchical"]
    assert saved["metric_hierarchy"] == "WordNet"
    assert list(rows) == ["backbone", "backbone + CRM", "HierNet slow", "HierNet slow + CRM", "HierNet fast"]
    for row, key in (("backbone", "backbone_accuracy"), ("HierNet slow", "hiernet_slow_accuracy"),
                     ("HierNet fast", "hiernet_fast_accuracy")):
        assert rows[row]["accuracy"] == pytest.approx(saved[key]), row
    assert "hierarchical_distance@5" in rows["backbone"] and "hierarchical_distance@5" not in rows["HierNet fast"]
    assert all(0 <= r["hierarchical_f1"] <= 1 and 0 <= r["mistake_severity"] <= 6 for r in rows.values())
    consistency = saved["path_consistency"]["HierNet slow"]
    assert 0 <= consistency["inconsistent_path_ratio"] <= 1
    assert consistency["full_path_accuracy"] <= saved["hiernet_slow_accuracy"] + 1e-9  # right at the leaf too
    # Fair comparison: the HierNet inherits the backbone's first stage (10 steps, no warm-up for n < 18); both
    # second stages run 10 steps on the same warm-up schedule with the papers' coupled weight decay.
    budgets = saved["budgets"]
    assert budget_difference(budgets) is None
    assert [stage["steps"] for stage in budgets["hiernet"]] == [10, 10]
    first, second = (stage["optimizer"] for stage in budgets["backbone"])
    assert first["class_name"] == "CoupledSGD" and first["config"]["weight_decay"] == 1e-4
    assert first["config"]["learning_rate"]["config"]["values"] == pytest.approx([0.1, 0.01, 0.001])
    assert second["config"]["learning_rate"]["config"]["values"] == pytest.approx([0.01, 0.1, 0.01, 0.001])
    for png in ("cpm.png", "tree.png", "accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    # Logs: one CSV row per epoch and the per-epoch history in metrics.json; the versions and the command.
    assert (out / "logs" / "seed0" / "hiernet.csv").read_text().count("\n") == 3
    assert len(saved["history"]["seed0/hiernet"]["loss"]) == 2
    assert set(saved["versions"]) >= {"keras_hier", "keras", "tensorflow"} and "--steps-per-epoch 5" in saved["command"]
    # Which code and machine: the commit (with "+changes" over uncommitted edits) and the CPU with its cores.
    import re

    assert re.fullmatch(r"[0-9a-f]{7,}(\+changes)?|unknown", saved["commit"]), saved["commit"]
    assert re.search(r", \d+ CPU cores", saved["machine"]), saved["machine"]
    assert (out / "checkpoints" / "seed0" / "hiernet" / "final.weights.h5").exists()  # kept here (see `tiny`)
    printed = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "out = served.signatures['serving_default'](images=tf.zeros([3, 32, 32, 1], tf.uint8))\n"
        "print(out['probabilities'].shape, out['routed_class'].numpy().tolist(), out['top_k_classes'].shape)\n"
    )
    assert printed.startswith("(3, 10)") and printed.strip().endswith("(3, 5)")


def test_resume_ends_as_an_uninterrupted_run(tiny, tmp_path, monkeypatch, capsys):
    """A run interrupted in the HierNet's second epoch (the folder `tiny` copied at that moment: the finished
    backbone stage, the HierNet backed up after epoch 1, its logs), then `--resume`: the finished backbone stage is
    loaded, the HierNet stage restarts at epoch 2, and every stage ends with the weights of the uninterrupted run,
    which the run's results then equal."""
    import shutil

    out, uninterrupted, interrupted = tiny
    run = tmp_path / "run"
    shutil.copytree(interrupted, run)
    checkpoints = run / "checkpoints" / "seed0"
    assert (checkpoints / "backbone" / "final.weights.h5").exists()
    assert json.loads((checkpoints / "hiernet" / "snapshots" / "epoch-0001" / "state.json").read_text())["epoch"] == 1
    assert not (run / "metrics.json").exists()
    flags = TINY + ["--output", str(run), "--no-export"]  # --output and --no-export: not compared on resuming
    with pytest.raises(SystemExit, match="other flags.*--lr"):
        recipe.main(flags + ["--resume", "--lr", "0.05"])
    from recipes._training import Training

    monkeypatch.setattr(Training, "remove_checkpoints", lambda self: None)  # keep the final weights to compare
    capsys.readouterr()
    resumed = recipe.main(flags + ["--resume"])
    printed = capsys.readouterr().out  # resumed, not run again (a new run of the same seed would end equal too)
    assert "seed0/backbone: finished in an earlier run" in printed
    assert "seed0/hiernet: resuming at epoch 2 of 2" in printed
    for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy", "validation", "groups"):
        assert resumed[key] == uninterrupted[key], key
    assert resumed["budgets"] == uninterrupted["budgets"]
    assert resumed["history"]["seed0/hiernet"]["loss"] == pytest.approx(uninterrupted["history"]["seed0/hiernet"]["loss"])
    assert (run / "logs" / "seed0" / "hiernet.csv").read_text() == (out / "logs" / "seed0" / "hiernet.csv").read_text()
    want, got = stage_weights(out), stage_weights(run)
    assert sorted(want) == sorted(got) and len(want) > 50
    for name in want:
        np.testing.assert_array_equal(want[name], got[name], err_msg=name)


def test_several_seeds_give_mean_and_sd(tmp_path, monkeypatch):
    """`--seeds 0,1,2`: one run per seed in OUTPUT/seedS, their mean ± sample sd in metrics.json, bars with error bars."""
    import time

    outputs, clock = [], [1e9]
    monkeypatch.setattr(time, "time", lambda: clock[0])

    def run_seed(args, seed, output, training, precision):
        outputs.append(output)
        clock[0] += 1000.0  # each seed takes 1,000 s
        return {"backbone_accuracy": 0.90 + 0.01 * seed, "hiernet_slow_accuracy": 0.91,
                "hiernet_fast_accuracy": 0.92 - 0.02 * seed}

    monkeypatch.setattr(recipe, "run_seed", run_seed)
    metrics = recipe.main(["--seeds", "0,1,2", "--output", str(tmp_path)])
    assert outputs == [str(tmp_path / f"seed{s}") for s in (0, 1, 2)]
    summary = json.loads((tmp_path / "metrics.json").read_text())["summary"]
    assert summary == metrics["summary"] and set(metrics["runs"]) == {"0", "1", "2"}
    assert summary["backbone_accuracy"]["mean"] == pytest.approx(0.91)
    assert summary["backbone_accuracy"]["std"] == pytest.approx(0.01)  # sample sd (ddof 1)
    assert summary["hiernet_fast_accuracy"]["std"] == pytest.approx(0.02)
    assert (tmp_path / "accuracy.png").read_bytes()[:4] == b"\x89PNG"
    # Each seed's numbers were written when it ended (a run cut short keeps its finished seeds).
    seed1 = json.loads((tmp_path / "seed1" / "metrics.json").read_text())
    assert seed1["seed"] == 1 and seed1["backbone_accuracy"] == pytest.approx(0.91) and "--seeds 0,1,2" in seed1["command"]
    # Each seed's own time, not the run's so far; the run's summary has the whole run's.
    assert [json.loads((tmp_path / f"seed{s}" / "metrics.json").read_text())["seconds"] for s in (0, 1, 2)] == [1000] * 3
    assert metrics["seconds"] == 3000
    # Seeds run apart combine into the same summary (recipes.report's evidence pages use this).
    apart = {s: json.loads((tmp_path / f"seed{s}" / "metrics.json").read_text()) for s in (2, 0, 1)}
    assert recipe.seeds_summary(apart)["summary"] == summary and recipe.seeds_summary(apart)["seeds"] == [0, 1, 2]


def test_help():
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0


def test_learning_rate_schedule_shapes():
    paper = recipe.learning_rate("paper", 64000, 0.1)
    assert [float(paper(s)) for s in (0, 1999, 2001, 31999, 32001, 48001)] == pytest.approx([0.01, 0.01, 0.1, 0.1, 0.01, 0.001])
    he = recipe.learning_rate("paper", 64000, 0.1, warmup=False)  # He et al. for n < 18: 0.1 from the start
    assert [float(he(s)) for s in (0, 1999, 31999, 32001, 48001)] == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.001])
    scaled = recipe.learning_rate("scaled", 640, 0.1)
    assert [float(scaled(s)) for s in (0, 30, 319, 321, 481)] == pytest.approx([0.01, 0.1, 0.1, 0.01, 0.001])
    assert np.isfinite(float(recipe.learning_rate("scaled", 3, 0.1)(2)))


@pytest.mark.parametrize(
    "flags, expected",
    [
        (["--dataset", "cifar100", "--n", "3"], (0.0075, 50, 5, 2)),
        (["--dataset", "cifar100", "--n", "3", "--activation", "elu"], (0.005, 50, 6, 2)),  # Table 2
        (["--dataset", "cifar100", "--n", "7", "--activation", "elu"], (0.005, 50, 15, 2)),
        (["--dataset", "cifar100", "--n", "9", "--activation", "elu"], (0.005, 50, 19, 5)),
        (["--n", "3", "--activation", "elu"], (0.05, 5, 6, 3)),  # Fashion-MNIST: p_min x 100 / 10 classes
        (["--n", "3", "--split-point", "4", "--p-min", "0.1"], (0.1, 5, 4, 5)),
    ],
)
def test_paper_settings_follow_the_activation(flags, expected):
    classes = 100 if "cifar100" in flags else 10
    assert recipe.tree_settings(recipe.parse_args(flags), classes) == pytest.approx(expected)


def image_folder(root, classes=("tshirt", "shirt", "sandal", "boot"), train=6, val=4):
    """A tiny folder of one's own PNGs: `root/train/<class>/*.png`, `root/val/<class>/*.png`, each class its own
    colour (so that the backbone can tell them apart)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", train), ("val", val)):
        for k, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for i in range(count):
                pixels = np.clip(rng.normal(60 * k + 40, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(root / split / name / f"{i}.png")
    return root


def test_own_folder_and_hand_written_tree(tmp_path):
    data = image_folder(tmp_path / "data")
    tree = tmp_path / "tree.json"  # the nested form, classes in another order than the folders'
    tree.write_text(json.dumps({"clothing": {"tops": ["tshirt", "shirt"], "shoes": ["sandal", "boot"]}}))
    out = tmp_path / "run"
    flags = ["--dataset", "image_folder", "--data-dir", str(data), "--image-size", "16", "--n", "1", "--seeds", "0",
             "--backbone-epochs", "1", "--epochs", "1", "--batch-size", "8", "--no-export", "--output", str(out)]
    metrics = recipe.main(flags + ["--hierarchy", str(tree), "--width", "0.5"])
    assert metrics["groups"] == {"tops": ["shirt", "tshirt"], "shoes": ["boot", "sandal"]}  # label order: sorted
    assert metrics["backbone"] == "resnet8_x0.5" and metrics["backbone_parameters"] < 21_000  # 78k at width 1
    assert set(metrics["node_accuracy"]) == {"clothing", "tops", "shoes"}  # keyed by node, as the groups
    assert metrics["metric_hierarchy"] == "the --hierarchy tree" and metrics["split_points"] == [1]
    from keras_hier import Hierarchy

    saved = Hierarchy.from_json(out / "hierarchy.json")
    assert saved.leaves == ("boot", "sandal", "shirt", "tshirt") and saved.parents("boot") == ("shoes",)
    assert all(0 <= metrics[k] <= 1 for k in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"))
    # A tree that does not name the folder's classes stops before any training, saying which.
    tree.write_text(json.dumps({"clothing": {"tops": ["tshirt", "shirt"], "shoes": ["sandal", "sneaker"]}}))
    with pytest.raises(SystemExit, match=r"not in the hierarchy: \['sneaker'\]|in the hierarchy but not given"):
        recipe.main(flags + ["--hierarchy", str(tree)])
    with pytest.raises(SystemExit, match="needs --data-dir"):
        recipe.main(["--dataset", "image_folder", "--output", str(tmp_path / "nothing")])
    assert not (tmp_path / "nothing").exists()  # a usage error leaves nothing on disk
