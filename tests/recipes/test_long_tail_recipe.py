"""The long-tail recipe end to end on a tiny budget: the paper's table rows, plots, a served export."""

import json

import pytest

from recipes import long_tail as recipe


def test_tiny_run(tmp_path, run_python):
    out = tmp_path / "run"
    metrics = recipe.main(["--seeds", "0", "--epochs", "0.2", "--depth", "1", "--output", str(out)])
    saved = json.loads((out / "metrics.json").read_text())
    rows = list(saved["summary"])
    assert rows[:3] == ["Prototypes", "Cosine classifier", "Classifier + prototypes"] and len(rows) == 7
    assert rows[-1] == "ensemble(w^h(0), w^h(20), w^h(100))"
    for stats in saved["summary"].values():
        assert set(stats) == {"many", "medium", "few", "total"}
        assert all(0.0 <= s["mean"] <= 1.0 for s in stats.values())
    run = saved["runs"][0]
    assert sum(run["counts"]) == 8776 and run["temperature"] in (0.05, 0.1, 0.2, 0.5) and run["mix"] in (0.5, 1, 2, 4, 8, 16)
    assert len(saved["attended"]) == 3 and all(len(v) == 9 for v in saved["attended"].values())
    assert metrics["summary"] == saved["summary"]
    for png in ("shot_groups.png", "attended_classes.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    printed = run_python(
        "import tensorflow as tf\n"
        f"served = tf.saved_model.load({str(out / 'saved_model')!r})\n"
        "p = served.serve(tf.zeros([3, 28, 28, 1]))\n"
        "print(p.shape, round(float(tf.reduce_sum(p[0])), 3))\n"
    )
    assert printed.strip() == "(3, 10) 1.0"


def test_help():
    with pytest.raises(SystemExit) as e:
        recipe.parse_args(["--help"])
    assert e.value.code == 0
