"""convnet: feature width, resolution halving per stage, saving, errors."""

import keras
import numpy as np
import pytest

from keras_hier.backbones import convnet


def test_shapes_and_saving(tmp_path):
    model = convnet((28, 28, 1), widths=(4, 8, 16))
    assert model.output.shape == (None, 16)
    assert model.get_layer("stage2_relu2").output.shape == (None, 4, 4, 16)  # 28 -> 14 -> 7 -> 4
    x = np.random.default_rng(0).uniform(size=(2, 28, 28, 1)).astype("float32")
    model.save(tmp_path / "convnet.keras")
    np.testing.assert_allclose(np.asarray(keras.saving.load_model(tmp_path / "convnet.keras")(x)),
                               np.asarray(model(x)), atol=1e-6)
    with pytest.raises(ValueError, match="input_shape"):
        convnet((28, 28))
    with pytest.raises(ValueError, match="widths"):
        convnet(widths=())
