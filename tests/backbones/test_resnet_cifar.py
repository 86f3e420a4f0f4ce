"""CIFAR ResNets: 6n + 2 layers, named residual blocks, the ELU variant."""

import keras
import numpy as np
import pytest

from keras_hier.backbones import block_name, resnet_cifar


def weighted_layers(model):
    """Convolutions on the main path plus the dense classifier (He et al. count 6n + 2)."""
    return [l for l in model.layers if isinstance(l, (keras.layers.Conv2D, keras.layers.Dense)) and "shortcut" not in l.name]


@pytest.mark.parametrize("n", [1, 3])
def test_depth_names_and_shapes(n):
    model = resnet_cifar(n, 10, input_shape=(32, 32, 3))
    assert model.name == f"resnet{6 * n + 2}" and len(weighted_layers(model)) == 6 * n + 2
    shapes = [model.get_layer(block_name(k)).output.shape for k in range(1, 3 * n + 1)]
    assert shapes[0] == (None, 32, 32, 16) and shapes[n] == (None, 16, 16, 32) and shapes[-1] == (None, 8, 8, 64)
    assert model.output.shape == (None, 10) and model.get_layer("features").output.shape == (None, 8, 8, 64)
    out = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1, atol=1e-5)


def test_resnet20_parameter_count():
    # He et al.: ResNet-20 has 0.27 M parameters.
    assert abs(resnet_cifar(3, 10).count_params() - 0.27e6) < 0.01e6


def test_half_width():
    """Every layer's filters halved (8, 16, 32): about a quarter of the convolution weights (each 3x3 kernel holds
    in x out filters), the same depth and block names."""
    full, half = resnet_cifar(3, 10), resnet_cifar(3, 10, width=0.5)
    assert half.name == "resnet20_x0.5" and len(weighted_layers(half)) == 20
    assert [half.get_layer(block_name(k)).output.shape[-1] for k in (1, 4, 9)] == [8, 16, 32]
    conv = lambda m: sum(int(np.prod(l.kernel.shape)) for l in m.layers if isinstance(l, keras.layers.Conv2D))  # noqa: E731
    # A quarter of each kernel, but the stem's (3 input channels, which do not halve): 4 * 27 * 8 against 27 * 16.
    assert conv(half) * 4 == conv(full) + 27 * 16


def test_elu_variant():
    model = resnet_cifar(2, 5, activation="elu", input_shape=(16, 16, 1))
    names = [l.name for l in model.layers]
    assert model.name == "elu_resnet14" and "block1_bn1" not in names and "block1_bn2" in names
    assert isinstance(model.get_layer(block_name(3)), keras.layers.Add)  # no activation after the addition
    assert model.get_layer("features").get_config()["activation"] == "elu"


@pytest.mark.parametrize(
    "kwargs, message",
    [({"n": 0}, "positive integer"), ({"activation": "gelu"}, "activation"), ({"input_shape": (32, 32)}, "input_shape"),
     ({"width": 0}, "width"), ({"width": 0.01}, "width"), ({"width": "half"}, "width")],
)
def test_errors(kwargs, message):
    args = {"n": 1, "num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        resnet_cifar(**args)
