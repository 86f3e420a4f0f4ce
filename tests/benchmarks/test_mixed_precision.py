"""benchmarks.mixed_precision: every recipe's training step builds and trains under float32 and a mixed policy, and
the global policy is float32 again afterwards."""

import keras
import pytest

from benchmarks import mixed_precision


def test_recipe_steps_under_both_policies(capsys):
    # One of the TensorFlow-only steps (HIRL's step under mixed precision: tests/models/test_hirl.py).
    ratios = mixed_precision.main(["--only", "multilabel", "--batch", "8", "--repeats", "1",
                                   "--warmup", "1", "--image-size", "16"])
    assert list(ratios) == ["multilabel: float32 / mixed_float16 step time"]
    assert all(r > 0 for r in ratios.values())
    assert keras.mixed_precision.global_policy().name == "float32"
    assert "speed-up" in capsys.readouterr().out


def test_bad_step_names():
    with pytest.raises(SystemExit, match="--only"):
        mixed_precision.main(["--only", "resnet"])


@pytest.mark.parametrize("name", ["hgr", "hirl"])
def test_steps_follow_their_recipes(name):
    # Both had drifted from their recipes (text features for the classes only; build_base's new argument) and
    # failed inside run_all.
    seconds = mixed_precision.step_seconds(name, "float32", (16, 16, 1), batch=8, repeats=1, warmup=0)
    assert seconds > 0


def test_without_a_gpu_the_default_run_is_small(monkeypatch, capsys):
    import keras_hier.precision

    monkeypatch.setattr(keras_hier.precision, "gpu_available", lambda: False)
    sizes = []
    monkeypatch.setattr(mixed_precision, "step_seconds", lambda name, policy, shape, batch, repeats, warmup: (
        sizes.append((batch, repeats, warmup)), 1.0)[-1])
    mixed_precision.main(["--only", "hgr"])
    assert "No GPU: a small run" in capsys.readouterr().out
    assert sizes == [tuple(mixed_precision.CPU_SIZE.values())] * 2  # float32, then mixed
    mixed_precision.main(["--only", "hgr", "--batch", "4", "--repeats", "1", "--warmup", "0"])
    assert "No GPU" not in capsys.readouterr().out and sizes[-1] == (4, 1, 0)
