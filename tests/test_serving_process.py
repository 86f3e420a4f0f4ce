"""The suite's serving process (tests/conftest.py `run_served`): TensorFlow only, a new namespace per snippet, and a
snippet that imports keras_hier fails its test and is not reused."""

import pytest


def test_run_served_is_tensorflow_only_and_fresh_per_snippet(run_served):
    assert run_served("import sys\nprint('keras_hier' in sys.modules, 'tensorflow' in sys.modules)").split() == [
        "False", "True"]
    run_served("leftover = 1")
    assert run_served("print('leftover' in dir())").strip() == "False"
    with pytest.raises(pytest.fail.Exception, match="imported"):
        run_served("import keras_hier")
    assert run_served("import sys\nprint('keras_hier' in sys.modules)").strip() == "False"  # a new process
    with pytest.raises(pytest.fail.Exception, match="ZeroDivisionError"):
        run_served("1 / 0")
