"""`build_before_fit`: what Keras would create inside the first traced train step exists before `fit`, so that step is
traced once (TensorFlow traces a function that created variables a second time)."""

import keras
import numpy as np
import tensorflow as tf

from keras_hier._training_state import build_before_fit


def _batches(n=16):
    rng = np.random.default_rng(0)
    return tf.data.Dataset.from_tensor_slices(
        (rng.random((n, 8, 8, 1)).astype("float32"), (np.arange(n) % 5).astype("int32"))).batch(8)


def _traces(model, data):
    traced = []
    step = model.train_step
    model.train_step = lambda batch: traced.append(1) or step(batch)
    model.fit(data, epochs=2, verbose=0)
    del model.train_step
    return len(traced)


def test_a_functional_model_with_metrics_traces_its_step_once():
    from keras_hier.backbones import resnet_cifar

    model = resnet_cifar(1, 5, input_shape=(8, 8, 1))
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy", metrics=["accuracy"])
    data = _batches()
    build_before_fit(model, data)
    assert model.optimizer.built and len(model.optimizer.variables) > 2
    assert len(model.metrics_variables) == 4  # the loss tracker's and accuracy's totals and counts
    assert _traces(model, data) == 1
    build_before_fit(model, data)  # built already: nothing more is created
    assert len(model.metrics_variables) == 4


def test_does_nothing_before_compile_for_other_inputs_or_under_a_strategy():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    build_before_fit(model, _batches())  # not compiled
    model.compile("sgd", "mse", metrics=["mae"])
    build_before_fit(model, [[0.0, 1.0, 2.0]])  # a list of numbers: left to Keras
    assert not model.optimizer.built
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        mirrored = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        mirrored.compile("sgd", "mse", metrics=["mae"])
    build_before_fit(mirrored, tf.data.Dataset.from_tensor_slices((np.zeros((4, 3)), np.zeros((4, 2)))).batch(2))
    assert not mirrored.optimizer.built  # Keras builds it in the strategy's scope at `fit`
