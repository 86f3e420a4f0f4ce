"""Data sets as numpy arrays and tf.data pipelines.

Submodules load lazily: `fashion_mnist`, `cifar`, `image_folder`, `long_tail`, `pipeline`.
"""

from keras_hier._lazy import lazy_submodules

__getattr__, __dir__ = lazy_submodules(__name__, ("fashion_mnist", "cifar", "image_folder", "long_tail", "pipeline"), globals())
