"""Lazy submodules: a package lists its submodules and imports each on first attribute access."""

import importlib


def lazy_submodules(package, names, namespace):
    """Returns the `__getattr__` and `__dir__` a package needs to load `names` on first use.

    Args:
        package: the package's `__name__`.
        names: its submodule names.
        namespace: the package's `globals()`.

    Example (in a package's `__init__.py`):
        __getattr__, __dir__ = lazy_submodules(__name__, ("wordnet", "imagenet"), globals())
    """
    names = tuple(names)

    def __getattr__(name):
        if name in names:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
