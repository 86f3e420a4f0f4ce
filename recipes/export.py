"""Writes a recipe run's serving SavedModel from the model it saved: `python -m recipes.export RUN_FOLDER`.

A recipe run under Keras' JAX (or PyTorch) backend cannot write a SavedModel, which needs TensorFlow: it saves the
served model as `RUN_FOLDER/serving.keras` with `serving.json` instead. This command, run where TensorFlow is
installed (Keras' TensorFlow backend), loads them and writes `RUN_FOLDER/saved_model` as the recipe itself would have
under TensorFlow: uint8 images in; probabilities, top-k indices and class names out (HierNet also its routed class).
"""

import os
import sys

from ._common import recipe_parser


def parse_args(argv=None):
    parser = recipe_parser("export", __doc__)
    parser.add_argument("run", help="the recipe's --output folder (holding serving.keras and serving.json)")
    return parser.parse_args(sys.argv[1:] if argv is None else [str(a) for a in argv])


def main(argv=None):
    """Exports `RUN_FOLDER/serving.keras`; returns the SavedModel folder."""
    args = parse_args(argv)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    import keras_hier  # noqa: F401  (registers keras_hier's layers and models for loading)

    from ._serving import SERVED_MODEL, SERVING_SPEC, export_from_spec
    from ._training import _read_json

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(f"A SavedModel needs Keras' TensorFlow backend; KERAS_BACKEND is {keras.backend.backend()}: "
                         f"run `KERAS_BACKEND=tensorflow python -m recipes.export {args.run}`.")
    model_path = os.path.join(args.run, SERVED_MODEL)
    if not os.path.exists(model_path):
        raise SystemExit(f"{model_path} does not exist: give the --output folder of a recipe run under JAX or PyTorch "
                         "(runs under TensorFlow write saved_model/ themselves).")
    spec = _read_json(os.path.join(args.run, SERVING_SPEC))
    path = export_from_spec(keras.saving.load_model(model_path), args.run, spec)
    print(f"Saved a serving SavedModel to {path} (serving_default: uint8 images -> probabilities, top_k_indices, "
          "top_k_classes" + (", routed_class, routed_probabilities)" if spec.get("routing") else ")"))
    return path


if __name__ == "__main__":
    main()
