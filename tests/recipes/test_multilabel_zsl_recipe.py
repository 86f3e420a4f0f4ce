"""The multi-label zero-shot recipe end to end on a tiny budget: Table-1 metrics, plots, a served export."""

import json

import pytest

from recipes import multilabel_zsl as recipe


def test_tiny_run(tmp_path, run_python):
    out = tmp_path / "run"
    metrics = recipe.main(["--seeds", "0", "--variants", "rgcn,rgcn_posvae", "--train-mosaics", "256",
                           "--test-mosaics", "128", "--backbone-epochs", "0.05", "--epochs", "1", "--hidden-units",
                           "16", "--graph-units", "16,16", "--edge-hidden", "8", "--output", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["unseen"] == ["Sandal", "Shirt"] and saved["external"] == ["Pullover", "Coat", "Ankle boot"]
    assert len(saved["seen"]) == 5 and saved["test_mosaics"] == 128
    for variant in ("rgcn", "rgcn_posvae"):
        stats = saved["summary"][variant]
        assert set(stats) == {f"{s}_{m}" for s in ("seen", "unseen", "all") for m in ("map", "miap")}
        assert all(0.0 <= s["mean"] <= 1.0 for s in stats.values())
    assert metrics["summary"] == saved["summary"]
    for png in ("class_graph.png", "unseen_miap.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = run_python(
        "import tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "p = served.serve(tf.zeros([3, 56, 56, 1]))\n"
        "print(p.shape, float(tf.reduce_min(p)) >= 0, float(tf.reduce_max(p)) <= 1)\n"
    )
    assert printed.strip() == "(3, 7) True True"


def test_help_and_bad_arguments(tmp_path):
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0
    with pytest.raises(SystemExit, match="--variants"):
        recipe.main(["--variants", "gcn", "--output", str(tmp_path)])
    with pytest.raises(SystemExit, match="--data-dir"):
        recipe.main(["--dataset", "coco", "--output", str(tmp_path)])
