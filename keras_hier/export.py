"""keras_hier's one serving contract: SavedModels for TF Serving that take raw uint8 `images` [batch, height, width,
channels] and preprocess them inside. `export_serving` answers with classes (every classifier's export: HierNet,
DualEncoder, MultiLabelZeroShot and the recipes'); `export_features` with an encoder's features (the self-supervised
models and HIRL)."""

import numpy as np

PREPROCESSING = ("unit", "none")
ACTIVATIONS = (None, "softmax", "sigmoid")


def _preprocess_fn(preprocessing):
    if callable(preprocessing):
        return preprocessing
    if preprocessing not in PREPROCESSING:
        raise ValueError(f"Unknown `preprocessing` {preprocessing!r}: use one of {PREPROCESSING} or a callable on "
                         "float32 images in 0..255.")
    return (lambda x: x / 255.0) if preprocessing == "unit" else (lambda x: x)


def _image_input(model, preprocessing, resize):
    """The uint8 `images` signature of an export of `model` and the function from those images to the model's
    input (float32 0..255, resized if asked, then `preprocessing`)."""
    import tensorflow as tf

    inputs = getattr(model, "inputs", None)
    if not inputs or len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise ValueError("`model` must be a built Keras model with one image input [batch, height, width, channels].")
    preprocess = _preprocess_fn(preprocessing)
    height, width, channels = inputs[0].shape[1:]
    if None in (height, width, channels):
        raise ValueError(f"The model's input needs a fixed height, width and channels; got {inputs[0].shape}.")
    shape = [None, None, None, channels] if resize else [None, height, width, channels]

    def prepare(images):
        x = tf.cast(images, tf.float32)
        if resize:
            x = tf.image.resize(x, (height, width))
        return preprocess(x)

    return [tf.TensorSpec(shape, tf.uint8, name="images")], prepare


def _tracked(model, preprocessing):
    import keras

    return [model] + ([preprocessing] if isinstance(preprocessing, keras.layers.Layer) else [])


def export_serving(model, path, preprocessing="unit", class_names=None, top_k=5, activation=None, resize=False,
                   extra_outputs=None, verbose=True, version=None):
    """Writes a SavedModel whose `serving_default` (and `serve`) signature takes raw uint8 images
    [batch, height, width, channels] (any batch size) and returns `probabilities` [batch, classes] (float32),
    `top_k_indices` [batch, k] (int32, best first) and `top_k_classes` [batch, k] (their names).

    The images are cast to float32 (0..255), optionally resized to the model's input size, and passed through
    `preprocessing` before the model. Images of another size than the model's are refused with an
    `InvalidArgumentError` naming the expected shape (unless `resize`). The SavedModel is written to a temporary
    folder beside `path` and moved into place only when complete; a failure leaves nothing behind. An existing
    folder is replaced (atomically) only if it is an earlier keras_hier export: a TF Serving base folder or any
    other folder is refused. `version` writes TF Serving's layout, `path/<version>/`.

    Args:
        model: a Keras model from preprocessed images [batch, H, W, C] to class scores [batch, classes].
        path: the SavedModel folder.
        preprocessing: `"unit"` (divide by 255: the keras_hier datasets' scale), `"none"`, or a callable on float32
            images in 0..255 (e.g. a Keras `Normalization` layer or a model's own preprocessing function).
        class_names: the class names, in output order (default "0", "1", ...).
        top_k: classes returned per image (at most the number of classes).
        activation: `None` when the model outputs probabilities, else `"softmax"` or `"sigmoid"` (multi-label) to
            apply to its outputs.
        resize: accept images of any height and width and resize them (bilinear) to the model's input size.
        extra_outputs: optional function of the preprocessed images and the probabilities returning a dict of more
            output tensors (e.g. HierNet's routed class); the models it uses must be tracked by `model`.
        verbose: say where the SavedModel went.
        version: None (write `path` itself), a positive int, or `"next"` (one more than the largest version folder
            under `path`, 1 if none).

    Returns:
        The folder written (`path`, or `path/<version>`).

    Example:
    >>> import keras
    >>> inputs = keras.Input((8, 8, 1))
    >>> model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inputs)))
    >>> export_serving(model, "/tmp/served", class_names=["a", "b", "c"], top_k=2)  # doctest: +SKIP
    """
    import tensorflow as tf

    from keras_hier._io import write_saved_model

    spec, prepare = _image_input(model, preprocessing, resize)
    if activation not in ACTIVATIONS:
        raise ValueError(f"Unknown `activation` {activation!r}: use one of {ACTIVATIONS}.")
    num_classes = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if class_names is None:
        if num_classes is None:
            raise ValueError("Pass `class_names`: the model's number of classes is not known.")
        class_names = [str(i) for i in range(num_classes)]
    class_names = [str(c) for c in class_names]
    if num_classes is not None and len(class_names) != num_classes:
        raise ValueError(f"Got {len(class_names)} class names for a model with {num_classes} outputs.")
    if len(set(class_names)) != len(class_names):
        raise ValueError("`class_names` must be unique.")
    k = min(int(top_k), len(class_names))
    if k < 1:
        raise ValueError(f"`top_k` must be positive; got {top_k}.")
    names = tf.constant(np.asarray(class_names, dtype=object), tf.string)

    def serve(images):
        x = prepare(images)
        scores = tf.cast(model(x, training=False), tf.float32)
        if activation == "softmax":
            scores = tf.nn.softmax(scores, axis=-1)
        elif activation == "sigmoid":
            scores = tf.sigmoid(scores)
        top = tf.math.top_k(scores, k=k)
        outputs = {"probabilities": scores, "top_k_indices": top.indices, "top_k_classes": tf.gather(names, top.indices)}
        if extra_outputs is not None:
            outputs.update(extra_outputs(x, scores))
        return outputs

    path = write_saved_model(path, _tracked(model, preprocessing), serve, spec, version=version)
    if verbose:
        print(f"Saved a serving SavedModel to {path} (serving_default: uint8 images -> probabilities, top_k_indices, "
              "top_k_classes)")
    return path


def export_features(encoder, path, preprocessing="unit", resize=False, verbose=True, version=None):
    """Writes a SavedModel whose `serving_default` (and `serve`) signature takes raw uint8 `images` [batch, height,
    width, channels] (any batch size), as `export_serving`'s, and returns `features` [batch, dims] (float32): the
    encoder's output, for retrieval, clustering or a downstream classifier. Written and refused as
    `export_serving` writes and refuses.

    Args:
        encoder: a Keras model from preprocessed images [batch, H, W, C] to features [batch, dims].
        path: the SavedModel folder.
        preprocessing: `"unit"` (divide by 255), `"none"`, or a callable on float32 images in 0..255.
        resize: accept images of any height and width and resize them (bilinear) to the encoder's input size.
        verbose: say where the SavedModel went.
        version: None, a positive int, or `"next"` (TF Serving's `path/<version>/` layout).

    Returns:
        The folder written.

    Example:
    >>> from keras_hier.examples import image_tower
    >>> export_features(image_tower(), "/tmp/encoder", version="next")  # doctest: +SKIP
    """
    import tensorflow as tf

    from keras_hier._io import write_saved_model

    spec, prepare = _image_input(encoder, preprocessing, resize)

    def serve(images):
        return {"features": tf.cast(encoder(prepare(images), training=False), tf.float32)}

    path = write_saved_model(path, _tracked(encoder, preprocessing), serve, spec, version=version)
    if verbose:
        print(f"Saved a serving SavedModel to {path} (serving_default: uint8 images -> features)")
    return path
