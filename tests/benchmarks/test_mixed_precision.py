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
