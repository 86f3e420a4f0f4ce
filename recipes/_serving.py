"""`export_served`: every recipe's serving SavedModel, written at once under Keras' TensorFlow backend, or (under JAX
or PyTorch, which cannot write one) kept as `serving.keras` with `serving.json`, for `python -m recipes.export` to
write in a TensorFlow process."""

import json
import os

SERVED_MODEL = "serving.keras"
SERVING_SPEC = "serving.json"


def export_from_spec(model, output, spec):
    """Writes `output/saved_model` for `model` as `spec` says (`export_serving`'s `class_names` and `activation`,
    and `"routing": true` for HierNet's routed outputs); TensorFlow backend only."""
    from keras_hier.export import export_serving

    path = os.path.join(output, "saved_model")
    if spec.get("routing"):  # a HierNet: its own export adds the routed outputs
        return model.export(path, class_names=spec["class_names"], verbose=False)
    return export_serving(model, path, class_names=spec["class_names"], activation=spec.get("activation"),
                          verbose=False)  # uint8 images in


def export_served(model, output, class_names, activation=None, routing=False):
    """The recipe's serving SavedModel `output/saved_model` (uint8 images in, `export_serving`'s outputs).

    Under Keras' TensorFlow backend it is written now. Under the other backends (no TensorFlow, e.g. the JAX GPU
    machine) the model is saved as `output/serving.keras` with `output/serving.json` (how to export it), and the
    command that writes the SavedModel from them in a TensorFlow process is printed.

    Args:
        model: the served Keras model: preprocessed images [batch, H, W, C] -> scores [batch, classes].
        output: the run's folder.
        class_names: the names of the model's outputs.
        activation: `export_serving`'s `activation` (None: the model outputs probabilities).
        routing: add HierNet's routed class and probabilities (`model` is a HierNet).

    Returns:
        The SavedModel folder, or None when it is left to `python -m recipes.export`.
    """
    import keras

    from keras_hier._io import save_model_atomic, write_text_atomic

    spec = {"class_names": [str(c) for c in class_names], "activation": activation, "routing": bool(routing)}
    if keras.backend.backend() == "tensorflow":
        return export_from_spec(model, output, spec)
    save_model_atomic(model, os.path.join(output, SERVED_MODEL))
    write_text_atomic(os.path.join(output, SERVING_SPEC), json.dumps(spec, indent=1))
    print(f"SavedModel export needs TensorFlow: {keras.backend.backend()} saved {SERVED_MODEL}; write "
          f"{os.path.join(output, 'saved_model')} with `KERAS_BACKEND=tensorflow python -m recipes.export {output}`")
    return None
