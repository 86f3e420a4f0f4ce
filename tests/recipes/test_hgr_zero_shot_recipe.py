"""The HGR-Net zero-shot recipe end to end on a tiny budget: metrics for both methods, plots, a served export."""

import json

import pytest

from recipes import hgr_zero_shot as recipe
from recipes._common import budget_difference
from recipes.demo import tour_flags


def test_tiny_run(tmp_path, run_served):
    out = tmp_path / "run"
    metrics = recipe.main(tour_flags("hgr") + ["--seeds", "0", "--train-size", "300", "--batch-size", "50",
                                               "--epochs", "1", "--projection-dim", "16", "--weighting", "adaptive",
                                               "--output", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["unseen"] == ["Pullover", "Sandal", "Shirt"] and len(saved["seen"]) == 7
    for method in ("flat", "hgr"):
        assert len(saved["runs"][method]) == 1  # mean ± sd over seeds: test_hiernet_recipe.py
        stats = saved["summary"][method]
        assert set(stats) == {"hit@1", "hit@2", "tor", "por"}
        assert all(0.0 <= s["mean"] <= 1.0 for s in stats.values())
        assert stats["hit@2"]["mean"] >= stats["hit@1"]["mean"]
    assert len(saved["runs"]["hgr"][0]["layer_weights"]) == 5  # adaptive weights, one per level
    assert metrics["summary"] == saved["summary"]
    assert budget_difference(saved["budgets"]) is None and [b["steps"] for b in saved["budgets"]["hgr"]] == [6]
    for png in ("zero_shot.png", "tree.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = run_served(
        "import numpy as np, tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "out = served.signatures['serving_default'](images=tf.zeros([4, 28, 28, 1], tf.uint8))\n"
        "names = {n.decode() for n in out['top_k_classes'][:, 0].numpy()}\n"
        "print(out['probabilities'].shape, sorted(names - {'Pullover', 'Sandal', 'Shirt'}))\n"
    )
    assert printed.strip().startswith("(4, 3) []")


def test_validation_mode_hides_the_unseen_classes(tmp_path):
    # Also the towers of `--towers clip-config` (keras-hub's CLIP encoders built from a config), in the same run.
    metrics = recipe.main(["--validate", "--seeds", "0", "--methods", "hgr", "--train-size", "100", "--batch-size", "50",
                           "--epochs", "1", "--towers", "clip-config", "--output", str(tmp_path)])
    assert 0.0 <= metrics["summary"]["hgr"]["por"]["mean"] <= 1.0
    assert metrics["split"] == "validation" and metrics["hidden"] == ["Pullover", "Sandal", "Shirt"]
    assert metrics["unseen"] == ["T-shirt/top", "Coat", "Sneaker"]
    assert metrics["seen"] == ["Trouser", "Dress", "Bag", "Ankle boot"]
    assert not (tmp_path / "saved_model").exists()
    with pytest.raises(SystemExit, match="must name seen classes"):
        recipe.main(["--validate", "--validation-unseen", "Sandal", "--output", str(tmp_path)])


def test_help_and_bad_methods():
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0
    with pytest.raises(SystemExit, match="--methods"):
        recipe.main(["--methods", "clip"])


def test_trainable_minilm_towers_run(tmp_path):
    metrics = recipe.main(["--seeds", "0", "--methods", "hgr", "--train-size", "100", "--batch-size", "50",
                           "--epochs", "1", "--towers", "cnn-minilm-trainable", "--no-export",
                           "--output", str(tmp_path)])
    assert 0.0 <= metrics["summary"]["hgr"]["por"]["mean"] <= 1.0


def test_clip_preset_towers_run(tmp_path, tiny_clip_preset):
    metrics = recipe.main(["--seeds", "0", "--methods", "hgr", "--train-size", "100", "--batch-size", "50",
                           "--epochs", "1", "--towers", "clip-preset", "--clip-preset", tiny_clip_preset[0],
                           "--no-export", "--output", str(tmp_path / "run")])
    assert 0.0 <= metrics["summary"]["hgr"]["por"]["mean"] <= 1.0


def test_clip_preprocessing_model():
    import numpy as np

    model = recipe.to_clip_input((28, 28, 1), 32)
    out = np.asarray(model(np.full((1, 28, 28, 1), 0.5, "float32")))
    assert out.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(out[0, 5, 5], (0.5 - np.array(recipe.CLIP_MEAN)) / np.array(recipe.CLIP_STD), atol=1e-4)
