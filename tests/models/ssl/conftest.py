"""Tiny encoders and images for the self-supervised model tests."""

import keras
import numpy as np
import pytest


def tiny_encoder(batch_norm=True, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x)))


@pytest.fixture
def images():
    return np.random.default_rng(0).uniform(size=(12, 8, 8, 1)).astype("float32")


@pytest.fixture
def encoder():
    return tiny_encoder()
