"""export_serving: a fresh process serves uint8 images of any batch size with the Keras model's probabilities, top-k
indices and names; resizing; softmax / sigmoid; saved_model_cli lists the signature; atomic writing; errors."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_hier.export import export_serving

NAMES = ["cat", "dog", "fox", "owl"]


def classifier(activation="softmax"):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, 3, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(4, activation=activation)(keras.layers.Flatten()(x)))


def serve_fresh(run_python, path, images):
    code = (
        "import numpy as np, tensorflow as tf, json\n"
        f"served = tf.saved_model.load({str(path)!r})\n"
        f"out = served.signatures['serving_default'](images=tf.constant(np.array({images.tolist()}, np.uint8)))\n"
        "print(json.dumps({k: (v.numpy().astype(str) if v.dtype == tf.string else v.numpy()).tolist() "
        "for k, v in out.items()}))\n"
    )
    import json

    return json.loads(run_python(code).strip().splitlines()[-1])


def test_fresh_process_serves_raw_images(tmp_path, run_python):
    model = classifier()
    images = np.random.default_rng(0).integers(0, 256, size=(5, 6, 6, 1), dtype=np.uint8)
    export_serving(model, tmp_path / "served", class_names=NAMES, top_k=2, verbose=False)
    out = serve_fresh(run_python, tmp_path / "served", images)
    want = np.asarray(model(images.astype("float32") / 255.0))
    np.testing.assert_allclose(out["probabilities"], want, atol=1e-5)
    top = np.argsort(-want, axis=1)[:, :2]
    np.testing.assert_array_equal(out["top_k_indices"], top)
    assert out["top_k_classes"] == [[NAMES[i] for i in row] for row in top]
    listing = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir",
                              str(tmp_path / "served"), "--all"], capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in listing and "signature_def['serve']" in listing
    assert "DT_UINT8" in listing
    assert "top_k_classes" in listing and "(-1, 6, 6, 1)" in listing


def test_logits_resize_and_custom_preprocessing(tmp_path, run_python):
    model = classifier(activation=None)
    big = np.random.default_rng(1).integers(0, 256, size=(2, 12, 9, 1), dtype=np.uint8)
    export_serving(model, tmp_path / "served", preprocessing=lambda x: x / 127.5 - 1.0, activation="sigmoid",
                   resize=True, top_k=10, verbose=False)
    out = serve_fresh(run_python, tmp_path / "served", big)
    import tensorflow as tf

    x = tf.image.resize(big.astype("float32"), (6, 6)) / 127.5 - 1.0
    np.testing.assert_allclose(out["probabilities"], 1 / (1 + np.exp(-np.asarray(model(x)))), atol=1e-5)
    assert np.asarray(out["top_k_indices"]).shape == (2, 4)  # k capped at the 4 classes
    assert out["top_k_classes"][0][0] in {"0", "1", "2", "3"}


def test_errors_leave_nothing_behind(tmp_path):
    model = classifier()
    with pytest.raises(ValueError, match="4 outputs"):
        export_serving(model, tmp_path / "a", class_names=["x"])
    with pytest.raises(ValueError, match="unique"):
        export_serving(model, tmp_path / "a", class_names=["x", "x", "y", "z"])
    with pytest.raises(ValueError, match="preprocessing"):
        export_serving(model, tmp_path / "a", preprocessing="imagenet")
    with pytest.raises(ValueError, match="activation"):
        export_serving(model, tmp_path / "a", activation="relu")

    def broken(x):
        raise RuntimeError("preprocessing failed")

    with pytest.raises(RuntimeError, match="preprocessing failed"):
        export_serving(model, tmp_path / "a", preprocessing=broken, verbose=False)
    assert list(tmp_path.iterdir()) == []  # no half-written folder


def test_a_batch_of_zero_images_gets_empty_outputs(tmp_path):
    # A convolution then batch norm failed on an empty batch ("Incompatible shapes: [16] vs. [0,6,6,1]").
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.BatchNormalization()(keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    for resize in (False, True):
        path = export_serving(model, tmp_path / f"served{resize}", class_names=NAMES, top_k=2, resize=resize,
                              verbose=False)
        serve = tf.saved_model.load(path).signatures["serving_default"]
        empty = serve(images=tf.zeros((0, 6, 6, 1), tf.uint8))
        assert {k: tuple(v.shape) for k, v in empty.items()} == {
            "probabilities": (0, 4), "top_k_indices": (0, 2), "top_k_classes": (0, 2)}
        assert empty["top_k_classes"].dtype == tf.string and empty["top_k_indices"].dtype == tf.int32
        full = serve(images=tf.ones((3, 6, 6, 1), tf.uint8))
        np.testing.assert_allclose(full["probabilities"], model(np.ones((3, 6, 6, 1), "float32") / 255.0),
                                   atol=1e-5)
