"""keras_hier: Keras 3 image classification with class hierarchies and knowledge graphs.

`import keras_hier` is cheap: it loads the `Hierarchy` type and numpy only. Submodules (`knowledge`,
`datasets`, ...) load on first use, so TensorFlow, TensorFlow-GNN, nltk and keras-hub are imported only when
a feature needs them. Loading a saved model needs no more than this import: Keras imports the keras_hier modules a
file names when it reads it (`keras_hier._registration`).

TensorFlow-GNN needs `tf.keras` to be Keras 2 (the `tf-keras` package). keras_hier sets
`TF_USE_LEGACY_KERAS=1` here, before anything can import tensorflow_gnn, so users never have to; `keras`
itself stays Keras 3, and every keras_hier model is a Keras 3 model.
"""

import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"

from keras_hier._lazy import lazy_submodules  # noqa: E402
from keras_hier._registration import install as _install_registration  # noqa: E402
from keras_hier.hierarchy import Hierarchy  # noqa: E402

__version__ = "0.1.0"

_SUBMODULES = (
    "knowledge", "datasets", "backbones", "grouping", "layers", "losses", "models", "metrics", "plotting", "precision",
    "node_tables", "prototypes", "clustering", "export", "distribute", "optimizers",
)

__all__ = ["Hierarchy", "HierNet", "DualEncoder", "HIRL", "__version__", *_SUBMODULES]

_ATTRIBUTES = {"HierNet": "keras_hier.models.hiernet", "DualEncoder": "keras_hier.models.dual_encoder",
               "HIRL": "keras_hier.models.hirl"}
# `keras.saving.load_model` finds keras_hier's classes without their modules being imported first.
_install_registration()
__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES, globals(), attributes=_ATTRIBUTES)
