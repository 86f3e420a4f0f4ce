"""recipes._common: the --precision / --strategy flags every recipe takes, and the runtime they set up."""

import argparse

import keras
import pytest

from recipes import _common


def _args(*argv):
    parser = argparse.ArgumentParser()
    _common.add_runtime_flags(parser)
    parser.add_argument("--output", default="out")
    return parser.parse_args(list(argv))


def test_flags_and_the_default_runtime():
    args = _args()
    assert (args.precision, args.strategy) == ("auto", "auto")
    with pytest.raises(SystemExit):
        _args("--strategy", "tpu")
    assert _common.run_under_runtime(_args("--precision", "float32", "--strategy", "none"),
                                     lambda a, precision: (a.output, precision)) == ("out", "float32")
    assert keras.mixed_precision.global_policy().name == "float32"


def test_strategies_need_tensorflow(monkeypatch):
    # Under another Keras backend the recipes run on one device; asking for a tf.distribute strategy is an error.
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(SystemExit, match="--strategy mirrored needs Keras' TensorFlow backend"):
        with _common.runtime(_args("--strategy", "mirrored")):
            pass
    with _common.runtime(_args("--precision", "float32")) as precision:
        assert precision == "float32"
