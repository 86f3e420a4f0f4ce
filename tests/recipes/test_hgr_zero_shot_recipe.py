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
    for method, row in saved["hierarchical"].items():  # zero-shot mistakes among the unseen classes, on WordNet
        assert row["accuracy"]["mean"] == pytest.approx(saved["summary"][method]["hit@1"]["mean"]), method
        assert 0 <= row["mistake_severity"]["mean"] <= 6 and "hierarchical_distance@2" in row
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
    metrics = recipe.main(["--validate", "--seeds", "0", "--methods", "hgr", "--train-size", "100", "--batch-size", "50",
                           "--epochs", "1", "--projection-dim", "16", "--output", str(tmp_path)])
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


@pytest.mark.parametrize("towers", ["cnn-minilm-trainable", "clip-config", "clip-preset"])
def test_every_towers_choice_builds_its_dual_encoder(towers, tiny_clip_preset):
    """The recipe's `--towers` wiring; DualEncoder's tests train, save and export each kind of tower."""
    import numpy as np

    args = recipe.parse_args(["--towers", towers, "--clip-preset", tiny_clip_preset[0], "--projection-dim", "16"])
    texts = ["a cat", "a coat", "a bag"]
    model = recipe.build_model(args, (28, 28, 1), texts, None)
    logits = np.asarray(model(np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")))
    assert logits.shape == (2, 3) and np.isfinite(logits).all()
    trainable_text = model.text_encoder.trainable_weights if model.text_encoder is not None else []
    assert len(trainable_text) > 0  # every choice but the frozen cnn-minilm trains its text tower
    if towers == "clip-preset":  # the preset's weights, its 16x16 input behind the recipe's resizing
        _, backbone, _ = tiny_clip_preset
        loaded = model.image_encoder.get_weights()
        assert all(any(np.array_equal(a, w) for a in loaded) for w in backbone.vision_encoder.get_weights())
        assert tuple(model.image_encoder.input_shape[1:]) == (28, 28, 1)


def test_clip_preprocessing_model():
    import numpy as np

    model = recipe.to_clip_input((28, 28, 1), 32)
    out = np.asarray(model(np.full((1, 28, 28, 1), 0.5, "float32")))
    assert out.shape == (1, 32, 32, 3)
    np.testing.assert_allclose(out[0, 5, 5], (0.5 - np.array(recipe.CLIP_MEAN)) / np.array(recipe.CLIP_STD), atol=1e-4)
