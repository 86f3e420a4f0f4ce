"""The HierNet recipe end to end on a tiny budget: metrics, plots, and an export that reloads in a fresh process."""

import json

import numpy as np
import pytest

from recipes import hiernet as recipe


def test_tiny_run(tmp_path, run_python):
    out = tmp_path / "run"
    metrics = recipe.main(
        [
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
    for png in ("cpm.png", "tree.png", "accuracy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = run_python(
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
    scaled = recipe.learning_rate("scaled", 640, 0.1)
    assert [float(scaled(s)) for s in (0, 30, 319, 321, 481)] == pytest.approx([0.01, 0.1, 0.1, 0.01, 0.001])
    assert np.isfinite(float(recipe.learning_rate("scaled", 3, 0.1)(2)))
