"""Lazy submodules and attributes: a package imports them on first access, keeping its own import cheap."""

import importlib


def lazy_submodules(package, names, namespace, attributes=None):
    """Returns the `__getattr__` and `__dir__` a package needs to load `names` (and `attributes`) on first use.

    Args:
        package: the package's `__name__`.
        names: its submodule names.
        namespace: the package's `globals()`.
        attributes: optional dict of attribute name -> module that defines it, e.g.
            `{"HierNet": "keras_hier.models.hiernet"}`.

    Example (in a package's `__init__.py`):
        __getattr__, __dir__ = lazy_submodules(__name__, ("wordnet", "imagenet"), globals())
    """
    names = tuple(names)
    attributes = dict(attributes or {})

    def __getattr__(name):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        if name in attributes:
            return getattr(importlib.import_module(attributes[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(names) | set(attributes))

    return __getattr__, __dir__
