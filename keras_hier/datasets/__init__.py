"""Data sets as numpy arrays and tf.data pipelines.

Submodules load lazily: `fashion_mnist`, `cifar`, `image_folder`, `long_tail`, `pipeline`.
"""

import importlib

_SUBMODULES = ("fashion_mnist", "cifar", "image_folder", "long_tail", "pipeline")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
