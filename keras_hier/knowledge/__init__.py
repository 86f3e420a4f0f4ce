"""External knowledge: WordNet, ImageNet class ids and class-name embeddings.

Submodules load lazily so that `import keras_hier.knowledge` stays cheap: `wordnet` (nltk), `imagenet`,
`embeddings` (GloVe, MiniLM through keras-hub).
"""

import importlib

_SUBMODULES = ("wordnet", "imagenet", "embeddings")


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
