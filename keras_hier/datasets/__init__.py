"""Data sets as numpy arrays and tf.data pipelines.

Submodules load lazily: `fashion_mnist`, `cifar`, `image_folder`, `long_tail`, `pipeline`, `prefetch`,
`array_batches`, `splits`, `zero_shot`, `imagenet21k`, `multilabel`.
"""

from keras_hier._lazy import lazy_submodules

_SUBMODULES = (
    "fashion_mnist", "cifar", "image_folder", "long_tail", "pipeline", "prefetch", "array_batches", "splits",
    "zero_shot", "imagenet21k", "multilabel",
)
__getattr__, __dir__ = lazy_submodules(__name__, _SUBMODULES, globals())
