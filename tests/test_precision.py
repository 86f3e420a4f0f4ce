"""set_precision: auto picks mixed_float16 only with a GPU; explicit policies; bad names."""

import keras
import pytest

from keras_hier.precision import gpu_available, set_precision


@pytest.fixture(autouse=True)
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_auto_and_explicit_policies():
    assert set_precision() == ("mixed_float16" if gpu_available() else "float32")
    assert keras.mixed_precision.global_policy().name == set_precision()
    assert set_precision("mixed_bfloat16") == keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    with pytest.raises(ValueError, match="Unknown precision 'half'"):
        set_precision("half")
