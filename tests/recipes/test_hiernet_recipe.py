"""The HierNet recipe end to end on a tiny budget: metrics, plots, and an export that reloads in a fresh process."""

import json

import numpy as np
import pytest

from recipes import hiernet as recipe
from recipes._common import budget_difference
from recipes.demo import RECIPE_STEPS

TOUR_FLAGS = next(flags for key, _, _, flags in RECIPE_STEPS if key == "hiernet")


def test_tiny_run(tmp_path, run_served):
    out = tmp_path / "run"
    metrics = recipe.main(
        TOUR_FLAGS + [
            "--n", "1", "--train-size", "500", "--eval-size", "200", "--batch-size", "50",
            "--backbone-epochs", "1", "--epochs", "1", "--p-min", "0", "--g-max", "5", "--output", str(out),
        ]
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["backbone_accuracy"] == metrics["backbone_accuracy"]
    for key in ("backbone_accuracy", "hiernet_slow_accuracy", "hiernet_fast_accuracy"):
        assert 0.0 <= saved[key] <= 1.0
    groups = saved["groups"]
    assert sorted(c for members in groups.values() for c in members) == sorted(
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    )
    assert all(len(members) <= 5 for members in groups.values()) and len(groups) >= 2
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
    printed = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "out = served.signatures['serving_default'](images=tf.zeros([3, 32, 32, 1], tf.uint8))\n"
        "print(out['probabilities'].shape, out['routed_class'].numpy().tolist(), out['top_k_classes'].shape)\n"
    )
    assert printed.startswith("(3, 10)") and printed.strip().endswith("(3, 5)")


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
